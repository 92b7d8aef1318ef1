"""The report's plotly figures: the accuracy charts, and the layouts of the per-series plots.

The page's script draws the selected series itself (see :mod:`skuplan.report.page`), with the
layouts built here, so every chart shares one template and palette.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import plotly.graph_objects as go

from skuplan.report.data import MASE_BIN_WIDTH, MASE_BINS

TEMPLATE = "plotly_white"
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
BLUE, GREY, RED = "#1f77b4", "#7f7f7f", "#d62728"
TOP_LEGEND = dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1)


def figure_html(fig: go.Figure, div_id: str) -> str:
    """``fig`` as a ``<div>`` for a page that inlines plotly.js once elsewhere."""
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG)


def accuracy_figure(acc: pd.DataFrame) -> go.Figure:
    """Median backtest MASE per model beside seasonal naive's on the same series.

    Input: ``model, median_mase, median_mase_naive`` (one row per bar, in order).
    """
    return go.Figure(
        [
            go.Bar(name="model", x=acc["model"], y=acc["median_mase"], marker_color=BLUE),
            go.Bar(
                name="seasonal naive, same series",
                x=acc["model"],
                y=acc["median_mase_naive"],
                marker_color=GREY,
            ),
        ],
        layout=dict(
            template=TEMPLATE,
            title="Median backtest MASE by model",
            barmode="group",
            yaxis_title="MASE (lower is better)",
            height=380,
            legend=TOP_LEGEND,
        ),
    )


def mase_figure(hist: pd.DataFrame) -> go.Figure:
    """Overlaid histograms of per-series MASE, chosen models against seasonal naive.

    Input: ``kind`` (chosen | seasonal naive), ``bin``, ``series``; a missing bin is empty.
    """
    labels = [f"{b * MASE_BIN_WIDTH:.1f}" for b in range(MASE_BINS)] + [
        f"≥{MASE_BINS * MASE_BIN_WIDTH:.1f}"
    ]
    fig = go.Figure(layout=dict(template=TEMPLATE))
    for kind, color in (("chosen", BLUE), ("seasonal naive", GREY)):
        counts = hist[hist["kind"] == kind].set_index("bin")["series"]
        fig.add_bar(
            name=kind,
            x=labels,
            y=[int(counts.get(b, 0)) for b in range(MASE_BINS + 1)],
            marker_color=color,
            opacity=0.75,
        )
    fig.update_layout(
        title="Distribution of backtest MASE per series",
        barmode="overlay",
        xaxis=dict(title="MASE, bins of 0.1", type="category"),
        yaxis_title="series",
        height=380,
        legend=TOP_LEGEND,
    )
    return fig


def coverage_figure(acc: pd.DataFrame, band_label: str, nominal_coverage: float) -> go.Figure:
    """Achieved backtest coverage of the band per model, against its nominal coverage.

    Input: ``model, mean_coverage``.
    """
    return go.Figure(
        go.Bar(x=acc["model"], y=acc["mean_coverage"], marker_color=BLUE, name="achieved"),
        layout=dict(
            template=TEMPLATE,
            title=f"Backtest coverage of the {band_label}",
            yaxis=dict(title="share of actuals inside the band", tickformat=".0%", range=[0, 1]),
            height=380,
            shapes=[
                dict(
                    type="line",
                    xref="paper",
                    x0=0,
                    x1=1,
                    yref="y",
                    y0=nominal_coverage,
                    y1=nominal_coverage,
                    line=dict(color=RED, dash="dash"),
                )
            ],
            annotations=[
                dict(
                    xref="paper",
                    x=1,
                    y=nominal_coverage,
                    yref="y",
                    xanchor="right",
                    yanchor="bottom",
                    text=f"nominal {nominal_coverage:.0%}",
                    showarrow=False,
                    font=dict(color=RED),
                    bgcolor="rgba(255,255,255,0.85)",  # readable over bars that reach it
                )
            ],
        ),
    )


def series_layout(run_date: dt.date) -> go.Layout:
    """The layout of one series' sales and forecast, a dashed line on the run date."""
    run_day = run_date.isoformat()
    return go.Layout(
        template=TEMPLATE,
        height=380,
        margin=dict(l=55, r=20, t=30, b=40),
        xaxis=dict(type="date"),
        yaxis=dict(title="units per day", rangemode="tozero"),
        legend=dict(orientation="h", y=-0.12),
        hovermode="x unified",
        shapes=[
            dict(
                type="line",
                xref="x",
                x0=run_day,
                x1=run_day,
                yref="paper",
                y0=0,
                y1=1,
                line=dict(color=GREY, dash="dash", width=1),
            )
        ],
    )


def drivers_layout() -> go.Layout:
    """The layout of one series' drivers: stacked bars per forecast day."""
    return go.Layout(
        template=TEMPLATE,
        height=300,
        margin=dict(l=55, r=20, t=40, b=40),
        title=dict(
            text="Drivers of the forecast: contribution per day (they add up to the forecast)",
            font=dict(size=14),
        ),
        barmode="relative",
        xaxis=dict(type="date"),
        yaxis=dict(title="units per day"),
        legend=dict(orientation="h", y=-0.15),
    )


def script_layouts(run_date: dt.date) -> dict:
    """The per-series plots' layouts as JSON-ready dicts, for the page's script to draw with."""
    return {
        "series_layout": json.loads(series_layout(run_date).to_json()),
        "drivers_layout": json.loads(drivers_layout().to_json()),
    }
