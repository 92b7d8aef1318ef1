"""The report as one self-contained HTML file: plotly.js inlined once, data embedded as JSON.

The summary charts are plotly figures (:mod:`skuplan.report.figures`). The series explorer
would need one figure per series; instead each series is a compact JSON document (see
:mod:`skuplan.report.series`) and the page's script (``assets/report.js``) draws the selected
one with the same plotly.js, from layouts built in Python. So 1,000 series cost their data,
not 1,000 figures. The page's style and script are package data under ``assets/``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from importlib import resources

import pandas as pd
import plotly.offline

from skuplan.report.data import ALL, CHOSEN, ReportData
from skuplan.report.figures import (
    PLOT_CONFIG,
    accuracy_figure,
    coverage_figure,
    figure_html,
    mase_figure,
    script_layouts,
)


def _asset(name: str) -> str:
    """The text of ``assets/<name>`` (package data, so it ships in the wheel)."""
    return (resources.files("skuplan.report") / "assets" / name).read_text(encoding="utf-8")


def _json_for_script(value) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>`` or ``<!--`` can appear)."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c")


def _number(digits: int) -> Callable[[float], str]:
    return lambda v: f"{v:,.{digits}f}"


def _share(v: float) -> str:
    return f"{v:.0%}"


QTY, MONEY, RATE, SCORE = _number(0), _number(2), _number(2), _number(3)

# How a column's cells read, in whichever table it appears; any other column reads as text.
FORMATS = {
    "series_chosen": QTY,
    "series_scored": QTY,
    "median_mase": SCORE,
    "median_mase_naive": SCORE,
    "share_beating_naive": _share,
    "median_wape": SCORE,
    "rmsse_base": SCORE,
    **{method: SCORE for method in ("bottom_up", "wls", "mint_shrink")},
    "mean_coverage": _share,
    "periods": QTY,
    "wape": SCORE,
    "bias": _share,
    "coverage": _share,
    "lines": QTY,
    "order_lines": QTY,
    "released_lines": QTY,
    "held_lines": QTY,
    "units": QTY,
    "value": MONEY,
    "on_hand": QTY,
    "order_qty": QTY,
    "prev_order_qty": QTY,
    "daily_demand": RATE,
    "prev_daily_demand": RATE,
    "series": QTY,
    "cycles": QTY,
    "target_csl": lambda v: f"{v:.1%}",
    "achieved_csl": lambda v: f"{v:.1%}",
    "fill_rate": lambda v: f"{v:.1%}",
    "plan_share": lambda v: f"{v:.0%}",
    "total_cost": QTY,
}
# The tables' headings: column name -> heading.
ACCURACY_HEADINGS = {
    "model": "model",
    "series_chosen": "chosen for (series)",
    "series_scored": "scored on (series)",
    "median_mase": "median MASE",
    "median_mase_naive": "seasonal naive MASE, same series",
    "share_beating_naive": "beats seasonal naive",
    "median_wape": "median WAPE",
    "mean_coverage": "band coverage",
}
REALISED_HEADINGS = {
    "model": "model at forecast time",
    "series_scored": "series",
    "periods": "periods scored",
    "wape": "WAPE",
    "bias": "bias",
    "coverage": "band coverage",
}
STATUS_HEADINGS = {
    "echelon": "echelon",
    "plan_status": "status",
    "lines": "lines",
    "order_lines": "order lines",
    "units": "units",
    "value": "value",
}
SUPPLIER_HEADINGS = {
    "supplier": "supplier",
    "order_lines": "order lines",
    "released_lines": "released",
    "held_lines": "held for review",
    "units": "units",
    "value": "value",
}
REVIEW_HEADINGS = {
    "sku": "SKU",
    "location": "location",
    "supplier": "supplier",
    "order_qty": "order",
    "prev_order_qty": "previous order",
    "daily_demand": "daily demand",
    "prev_daily_demand": "previous daily demand",
    "reason": "reason",
}
STOCKOUT_HEADINGS = {
    "sku": "SKU",
    "location": "location",
    "supplier": "supplier",
    "plan_status": "status",
    "on_hand": "on hand",
    "daily_demand": "daily demand",
    "order_qty": "order",
    "expected_arrival": "arrives",
    "projected_stockout_date": "short from",
    "projected_stockout_date_with_plan": "short with the order",
    "later_receipt": "a later order arrives",
}
EXCEPTION_HEADINGS = {"plan_status": "status", "cause": "cause", "lines": "lines"}
REPLAY_HEADINGS = {
    "variant": "levels",
    "echelon": "echelon",
    "policy": "policy",
    "series": "series",
    "cycles": "cycles",
    "target_csl": "cycle service target",
    "achieved_csl": "cycle service reached",
    "fill_rate": "fill rate",
    "total_cost": "cost (holding + ordering + shortage)",
    "plan_share": "days on shipped plans",
}


def _table(
    pdf: pd.DataFrame,
    columns: dict[str, str],
    *,
    table_id: str,
    text_columns: tuple[str, ...] = (),
) -> str:
    """An HTML table of ``pdf``'s ``columns`` (name -> heading), cells formatted by
    ``FORMATS`` and escaped; ``text_columns`` are long text, aligned left."""
    if pdf.empty:
        return '<p class="note">None.</p>'
    out = pdf[list(columns)].copy()
    for col in out.columns:
        fn = FORMATS.get(col, str)
        out[col] = [("" if pd.isna(v) else html.escape(fn(v))) for v in out[col]]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in columns.values())
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td class="text">{v}</td>' if c in text_columns else f"<td>{v}</td>"
            for c, v in zip(out.columns, row, strict=True)
        )
        + "</tr>"
        for row in out.itertuples(index=False)
    )
    return f'<table class="data" id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _band_label(data: ReportData) -> str:
    lo, hi = data.band
    return f"{lo.upper()}-{hi.upper()} band".replace("_", ".")


def _chosen_first(acc: pd.DataFrame) -> pd.DataFrame:
    """The ``CHOSEN`` row, then the models most often chosen (then by name)."""
    models = acc[acc["model"] != CHOSEN].sort_values(
        ["series_chosen", "model"], ascending=[False, True]
    )
    return pd.concat([acc[acc["model"] == CHOSEN], models])


def _accuracy_headline(chosen: pd.Series, data: ReportData) -> str:
    """One sentence on the chosen forecasts against seasonal naive and the band's coverage."""
    text = f"Chosen forecasts: median backtest MASE {chosen.median_mase:.3f}"
    if pd.notna(chosen.median_mase_naive):
        text += f" against {chosen.median_mase_naive:.3f} for seasonal naive on the same series"
    if pd.notna(chosen.share_beating_naive):
        text += f"; better than seasonal naive on {chosen.share_beating_naive:.0%} of them"
    if pd.notna(chosen.mean_coverage):
        text += (
            f". The {_band_label(data)} held {chosen.mean_coverage:.0%} of the actuals"
            f" (nominal {data.nominal_coverage:.0%})"
        )
    return f"<p>{html.escape(text)}.</p>"


def _accuracy_charts(acc: pd.DataFrame, data: ReportData) -> str:
    figures = (
        figure_html(accuracy_figure(acc), "fig-accuracy"),
        figure_html(mase_figure(data.mase_hist), "fig-mase"),
        figure_html(coverage_figure(acc, _band_label(data), data.nominal_coverage), "fig-coverage"),
    )
    return '<div class="charts">' + "".join(figures) + "</div>"


def accuracy_section(data: ReportData) -> str:
    """The headline against seasonal naive, the accuracy table and its three charts."""
    if data.accuracy.empty:
        return '<p class="note">No backtest metrics for this run date.</p>'
    acc = _chosen_first(data.accuracy)
    chosen = acc[acc["model"] == CHOSEN]
    headline = [] if chosen.empty else [_accuracy_headline(chosen.iloc[0], data)]
    return "\n".join(
        [
            *headline,
            _table(acc, ACCURACY_HEADINGS, table_id="accuracy-table"),
            _accuracy_charts(acc, data),
        ]
    )


def realised_section(data: ReportData) -> str:
    """Earlier run dates' forecasts against the sales that came in since, per model."""
    if data.realised.empty or not data.realised["periods"].sum():
        return (
            f'<p class="note">No earlier forecast of the last {data.realised_days} days '
            "has sales yet.</p>"
        )
    rows = data.realised.sort_values("periods", ascending=False, kind="stable")
    overall = rows[rows["model"] == ALL].iloc[0]
    text = (
        f"Forecasts shipped on earlier run dates for the last {data.realised_days} days, "
        f"against what sold: {overall.periods:,} periods"
    )
    if pd.notna(overall.wape):  # none when nothing sold
        text += f", WAPE {overall.wape:.3f}, bias {overall.bias:+.1%}"
    if pd.notna(overall.coverage):
        text += f", {overall.coverage:.0%} inside the {_band_label(data)}"
    table = _table(rows, REALISED_HEADINGS, table_id="realised-table")
    return f"<p>{html.escape(text)}.</p>\n{table}"


def hierarchy_section(data: ReportData) -> str:
    """Backtest error per hierarchy level, own and reconciled; nothing without levels."""
    if data.hierarchy.empty:
        return ""
    levels = data.hierarchy
    wide = levels.pivot_table(index="level", columns="method", values="rmsse", sort=False)
    firsts = levels.drop_duplicates("level").set_index("level")[["nodes", "rmsse_base"]]
    table = firsts.join(wide).reset_index()
    chosen = levels.loc[levels["is_selected"].fillna(False).astype(bool), "method"]
    headings = {"level": "level", "nodes": "nodes scored", "rmsse_base": "own forecasts"}
    headings |= {m: m.replace("_", " ") + (" (in use)" if m in set(chosen) else "")
                 for m in wide.columns}  # fmt: skip
    text = "Each level's mean backtest RMSSE over its nodes (in trees whose every node has \
backtest errors): own forecasts, and reconciled by each method."
    html_table = _table(table, headings, table_id="hierarchy-table")
    return f"<h3>Hierarchy levels</h3>\n<p>{html.escape(text)}</p>\n{html_table}"


def series_section(data: ReportData) -> str:
    """The explorer's elements, filled by the page's script."""
    return """
<div class="explorer">
  <aside>
    <input id="series-filter" type="search" placeholder="filter: SKU, location, model, status, supplier"
           aria-label="filter series">
    <p id="series-count" class="note"></p>
    <ul id="series-list"></ul>
  </aside>
  <div>
    <h3 id="series-title"></h3>
    <p id="series-info" class="note"></p>
    <p id="series-reason"></p>
    <div id="series-plot"></div>
    <div id="drivers-plot"></div>
    <p id="drivers-note" class="note"></p>
  </div>
</div>"""


def plan_section(data: ReportData) -> str:
    """The plan's tables: status, suppliers, review, stockouts and lines not planned."""
    plan = data.plan
    if plan is None:
        return '<p class="note">No reorder plan for this run date.</p>'
    parts = [
        "<h3>Lines by echelon and status</h3>",
        _table(plan.status, STATUS_HEADINGS, table_id="plan-status"),
        "<h3>Orders by supplier</h3>",
        '<p class="note">A store supplied by a distribution centre orders from it: its '
        "orders are listed under the DC, and the DC's own orders under the item's supplier.</p>",
        _table(plan.suppliers, SUPPLIER_HEADINGS, table_id="orders-by-supplier"),
        f"<h3>Lines needing review: {plan.review_total:,}</h3>",
        _shown_note(len(plan.review), plan.review_total),
        _table(plan.review, REVIEW_HEADINGS, table_id="review-lines", text_columns=("reason",)),
        f"<h3>Short before a later order can arrive: {plan.at_risk_total:,}</h3>",
        f'<p class="note">{plan.stockouts_total:,} lines run short in the horizon without new orders; '
        "first, those short even with this plan's order before a later one could arrive.</p>",
        _shown_note(len(plan.stockouts), plan.stockouts_total),
        _table(plan.stockouts, STOCKOUT_HEADINGS, table_id="stockouts"),
        "<h3>Not planned</h3>",
        _table(plan.exceptions, EXCEPTION_HEADINGS, table_id="not-planned"),
        "<h3>Policy replay</h3>",
        '<p class="note">Each planned series\' policy replayed on its recent sales '
        "(policy_simulation): the formula's levels and the cost-optimised ones on the same "
        "days and lead times, on a trailing-mean forecast standing in for the plan's; "
        "<em>shipped</em>: what earlier runs' plans released, on the days they planned "
        "the series. A DC is replayed on the orders its stores placed in their replay. "
        "Cycle service over the series with a cycle service target.</p>",
        _table(plan.replay, REPLAY_HEADINGS, table_id="policy-replay"),
    ]
    return "\n".join(parts)


def _shown_note(shown: int, total: int) -> str:
    if shown >= total:
        return ""
    return f'<p class="note">The first {shown:,} are listed (report.max_table_rows).</p>'


def _meta(data: ReportData) -> dict:
    """What the page's script reads besides the series: labels, settings and plot layouts."""
    return {
        "run_date": data.run_date.isoformat(),
        "band_label": _band_label(data),
        "series_total": data.series_total,
        "has_explanations": data.has_explanations,
        "config": PLOT_CONFIG,
        **script_layouts(data.run_date),
    }


def _series_note(data: ReportData) -> str:
    shown = len(data.series)
    return f"{data.series_total:,} series forecast" + (
        f", {shown:,} in the explorer (report.max_series)" if shown < data.series_total else ""
    )


def render(data: ReportData, *, generated_at: str) -> str:
    """The whole report as one HTML document."""
    runs = ", ".join(f"{k} run {v}" for k, v in data.run_ids.items())
    title = f"skuplan report {data.run_date.isoformat()}"
    # The assets hold their text without the newline that opens the element.
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
{_asset("report.css")}</style>
<script>{plotly.offline.get_plotlyjs()}</script>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">Run date {data.run_date.isoformat()} · generated {html.escape(generated_at)}
 · {html.escape(runs)} · {html.escape(_series_note(data))}</p>
<nav><a href="#accuracy">Accuracy</a><a href="#series">Series</a><a href="#plan-summary">Plan</a></nav>
<section id="accuracy">
<h2>Forecast accuracy (backtest)</h2>
{accuracy_section(data)}
<h3>Realised accuracy</h3>
{realised_section(data)}
{hierarchy_section(data)}
</section>
<section id="series">
<h2>Series</h2>
{series_section(data)}
</section>
<section id="plan-summary">
<h2>Plan summary</h2>
{plan_section(data)}
</section>
<script type="application/json" id="report-meta">{_json_for_script(_meta(data))}</script>
<script type="application/json" id="series-data">{_json_for_script("[" + ",".join(data.series) + "]")}</script>
<script>
{_asset("report.js")}</script>
</body>
</html>
"""
