"""The report as one self-contained HTML file: plotly.js inlined once, data embedded as JSON.

The summary charts are plotly figures built here. The series explorer would need one figure
per series; instead each series is a compact JSON document (see :mod:`skuplan.report.data`)
and the page draws the selected one with the same plotly.js, from layouts built here. So
1,000 series cost their data, not 1,000 figures.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable

import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from skuplan.report.data import CHOSEN, MASE_BIN_WIDTH, MASE_BINS, ReportData

TEMPLATE = "plotly_white"
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
BLUE, GREY, RED = "#1f77b4", "#7f7f7f", "#d62728"
TOP_LEGEND = dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1)

CSS = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1280px; padding: 0 1.5rem 3rem;
       color: #222; }
h1 { margin-top: 1.2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .3rem; margin-top: 2rem; }
.meta, .note { color: #555; }
nav a { margin-right: 1rem; }
table.data { border-collapse: collapse; font-size: .85rem; margin: .5rem 0 1rem; }
table.data th, table.data td { border-bottom: 1px solid #e5e5e5; padding: .25rem .6rem; text-align: right; }
table.data th { background: #f6f6f6; }
table.data td:first-child, table.data th:first-child { text-align: left; }
table.data td.text { text-align: left; max-width: 40rem; }
/* auto-fill: a figure is sized when its script runs, before the next figure exists */
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 1rem; }
.charts > div { min-width: 0; }
.explorer { display: grid; grid-template-columns: 300px 1fr; gap: 1rem; }
#series-filter { width: 100%; box-sizing: border-box; padding: .4rem; font-size: .95rem; }
#series-list { list-style: none; margin: .4rem 0; padding: 0; max-height: 720px; overflow-y: auto;
               border: 1px solid #ddd; }
#series-list li { padding: .25rem .5rem; cursor: pointer; border-bottom: 1px solid #f0f0f0; font-size: .85rem; }
#series-list li small { color: #777; }
#series-list li.selected { background: #e8f0fb; }
#series-list li:hover { background: #f3f7fd; }
#series-reason { background: #fafafa; border-left: 3px solid #1f77b4; padding: .4rem .6rem; }
"""

SCRIPT = """
(function () {
  "use strict";
  const series = JSON.parse(document.getElementById("series-data").textContent);
  const meta = JSON.parse(document.getElementById("report-meta").textContent);
  const origin = Date.parse(meta.run_date + "T00:00:00Z");
  const day = (t) => new Date(origin + t * 86400000).toISOString().slice(0, 10);
  const fmt = (x, digits) => (x === null || x === undefined) ? "n/a" : Number(x).toFixed(digits);
  const list = document.getElementById("series-list");
  const filter = document.getElementById("series-filter");
  const count = document.getElementById("series-count");
  let current = -1;

  series.forEach(function (s, i) {
    const p = s.p || {};
    const tags = [s.m];
    if (p.status && p.status !== "planned") tags.push(p.status.replace("_", " "));
    if (p.stockout) tags.push("stockout " + p.stockout);
    if (p.qty > 0) tags.push("order " + fmt(p.qty, 0));
    const li = document.createElement("li");
    li.dataset.index = i;
    li.dataset.search = [s.s, s.l, s.m, s.c, p.status, p.supplier, p.stockout ? "stockout" : ""]
      .join(" ").toLowerCase();
    li.textContent = s.s + " @ " + s.l + " ";
    const small = document.createElement("small");
    small.textContent = tags.join(" · ");
    li.appendChild(small);
    li.addEventListener("click", function () { select(i); });
    list.appendChild(li);
  });

  function applyFilter() {
    const words = filter.value.trim().toLowerCase().split(/\\s+/).filter(Boolean);
    let shown = 0;
    for (const li of list.children) {
      const hit = words.every((w) => li.dataset.search.includes(w));
      li.hidden = !hit;
      if (hit) shown += 1;
    }
    let text = shown + " of " + series.length + " series";
    if (meta.series_total > series.length) {
      text += " (" + meta.series_total + " forecast; the list holds " + series.length +
        ": lines needing review, projected stockouts and the largest orders first)";
    }
    count.textContent = text;
  }

  function select(i) {
    const s = series[i];
    if (current >= 0) list.children[current].classList.remove("selected");
    list.children[i].classList.add("selected");
    current = i;
    const p = s.p || {};
    document.getElementById("series-title").textContent = s.s + " @ " + s.l;
    const info = ["model " + s.m];
    if (s.c) info.push("demand " + s.c);
    info.push("backtest MASE " + fmt(s.e, 2) + " (seasonal naive " + fmt(s.n, 2) + ")");
    if (p.status) info.push("plan: " + p.status.replace("_", " "));
    if (p.supplier) info.push("supplier " + p.supplier);
    if (p.stockout) {
      info.push("projected stockout " + p.stockout +
        (p.stockout_plan ? " (still " + p.stockout_plan + " with the order)" : " (the order covers it)"));
    }
    document.getElementById("series-info").textContent = info.join(" · ");
    document.getElementById("series-reason").textContent = p.reason || "no plan line";
    try {
      const link = new URLSearchParams({sku: s.s, location: s.l}).toString();
      history.replaceState(null, "", "#" + link);
    } catch (e) { /* some browsers refuse history changes on file:// pages */ }

    const h = s.h || {t: [], y: []};
    const f = s.f || {t: [], y: [], lo: [], mid: [], hi: []};
    const fx = f.t.map(day);
    const traces = [
      {x: fx, y: f.lo, mode: "lines", line: {width: 0}, showlegend: false, hoverinfo: "skip"},
      {x: fx, y: f.hi, mode: "lines", line: {width: 0}, fill: "tonexty",
       fillcolor: "rgba(31,119,180,0.2)", name: meta.band_label},
      {x: h.t.map(day), y: h.y, mode: "lines", name: "sales", line: {color: "#444", width: 1}},
    ];
    if (h.so && h.so.length) {
      const qty = new Map(h.t.map((t, k) => [t, h.y[k]]));
      traces.push({x: h.so.map(day), y: h.so.map((t) => qty.get(t)), mode: "markers",
                   name: "stockout day (censored)", marker: {symbol: "x", color: "#d62728"}});
    }
    traces.push({x: fx, y: f.mid, mode: "lines", name: "P50", line: {color: "#1f77b4", dash: "dot"}});
    traces.push({x: fx, y: f.y, mode: "lines", name: "forecast (" + s.m + ")",
                 line: {color: "#1f77b4", width: 2}});
    Plotly.react("series-plot", traces, meta.series_layout, meta.config);

    const drivers = document.getElementById("drivers-plot");
    const note = document.getElementById("drivers-note");
    if (s.d && s.d.length) {
      const bars = s.d.map((d) => ({type: "bar", name: d.n, x: d.t.map(day), y: d.c}));
      drivers.hidden = false;
      note.textContent = "";
      Plotly.react(drivers, bars, meta.drivers_layout, meta.config);
    } else {
      Plotly.purge(drivers);
      drivers.hidden = true;
      note.textContent = "No explanations for this model (" + s.m + ")" +
        (meta.has_explanations ? "." : ": this run has no explanations table.");
    }
  }

  filter.addEventListener("input", applyFilter);
  filter.addEventListener("keydown", function (e) {
    if (e.key !== "Enter") return;
    const first = Array.from(list.children).find((li) => !li.hidden);
    if (first) select(Number(first.dataset.index));
  });
  // Links open on a series or a filter: report.html#sku=A1&location=L2, #filter=L2 review.
  function fromHash() {
    const want = new URLSearchParams(window.location.hash.slice(1));
    if (want.has("filter")) {
      filter.value = want.get("filter");
      applyFilter();
    }
    return series.findIndex((s) => s.s === want.get("sku") && s.l === want.get("location"));
  }
  window.addEventListener("hashchange", function () {
    const i = fromHash();
    if (i >= 0 && i !== current) select(i);
  });
  applyFilter();
  const linked = fromHash();
  const firstShown = Array.from(list.children).findIndex((li) => !li.hidden);
  if (series.length) select(linked >= 0 ? linked : Math.max(firstShown, 0));
})();
"""


def _json_for_script(value) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>`` or ``<!--`` can appear)."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c")


def _number(digits: int) -> Callable[[float], str]:
    return lambda v: f"{v:,.{digits}f}"


def _share(v: float) -> str:
    return f"{v:.0%}"


def _table(
    pdf: pd.DataFrame,
    columns: dict[str, str],
    formats: dict[str, Callable] | None = None,
    text_columns: tuple[str, ...] = (),
    table_id: str | None = None,
) -> str:
    """An HTML table of ``pdf``'s ``columns`` (name -> heading); values escaped."""
    if pdf.empty:
        return '<p class="note">None.</p>'
    out = pdf[list(columns)].copy()
    for col in out.columns:
        fn = (formats or {}).get(col, str)
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
    attr = f' id="{table_id}"' if table_id else ""
    return f'<table class="data"{attr}><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _figure(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG)


def _band_label(data: ReportData) -> str:
    lo, hi = data.band
    return f"{lo.upper()}-{hi.upper()} band".replace("_", ".")


def accuracy_section(data: ReportData) -> str:
    acc = data.accuracy
    if acc.empty:
        return '<p class="note">No backtest metrics for this run date.</p>'
    chosen = acc[acc["model"] == CHOSEN]
    models = acc[acc["model"] != CHOSEN].sort_values(
        ["series_chosen", "model"], ascending=[False, True]
    )
    acc = pd.concat([chosen, models])
    parts = []
    if not chosen.empty:
        c = chosen.iloc[0]
        text = f"Chosen forecasts: median backtest MASE {c.median_mase:.3f}"
        if pd.notna(c.median_mase_naive):
            text += f" against {c.median_mase_naive:.3f} for seasonal naive on the same series"
        if pd.notna(c.share_beating_naive):
            text += f"; better than seasonal naive on {c.share_beating_naive:.0%} of them"
        if pd.notna(c.mean_coverage):
            text += (
                f". The {_band_label(data)} held {c.mean_coverage:.0%} of the actuals"
                f" (nominal {data.nominal_coverage:.0%})"
            )
        parts.append(f"<p>{html.escape(text)}.</p>")
    parts.append(
        _table(
            acc,
            {
                "model": "model",
                "series_chosen": "chosen for (series)",
                "series_scored": "scored on (series)",
                "median_mase": "median MASE",
                "median_mase_naive": "seasonal naive MASE, same series",
                "share_beating_naive": "beats seasonal naive",
                "median_wape": "median WAPE",
                "mean_coverage": "band coverage",
            },
            {
                "series_chosen": _number(0),
                "series_scored": _number(0),
                "median_mase": _number(3),
                "median_mase_naive": _number(3),
                "share_beating_naive": _share,
                "median_wape": _number(3),
                "mean_coverage": _share,
            },
            table_id="accuracy-table",
        )
    )
    accuracy_fig = go.Figure(
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
    labels = [f"{b * MASE_BIN_WIDTH:.1f}" for b in range(MASE_BINS)] + [
        f"≥{MASE_BINS * MASE_BIN_WIDTH:.1f}"
    ]
    hist = data.mase_hist
    mase_fig = go.Figure(layout=dict(template=TEMPLATE))
    for kind, color in (("chosen", BLUE), ("seasonal naive", GREY)):
        counts = hist[hist["kind"] == kind].set_index("bin")["series"]
        mase_fig.add_bar(
            name=kind,
            x=labels,
            y=[int(counts.get(b, 0)) for b in range(MASE_BINS + 1)],
            marker_color=color,
            opacity=0.75,
        )
    mase_fig.update_layout(
        title="Distribution of backtest MASE per series",
        barmode="overlay",
        xaxis=dict(title="MASE, bins of 0.1", type="category"),
        yaxis_title="series",
        height=380,
        legend=TOP_LEGEND,
    )
    coverage_fig = go.Figure(
        go.Bar(x=acc["model"], y=acc["mean_coverage"], marker_color=BLUE, name="achieved"),
        layout=dict(
            template=TEMPLATE,
            title=f"Backtest coverage of the {_band_label(data)}",
            yaxis=dict(title="share of actuals inside the band", tickformat=".0%", range=[0, 1]),
            height=380,
            shapes=[
                dict(
                    type="line",
                    xref="paper",
                    x0=0,
                    x1=1,
                    yref="y",
                    y0=data.nominal_coverage,
                    y1=data.nominal_coverage,
                    line=dict(color=RED, dash="dash"),
                )
            ],
            annotations=[
                dict(
                    xref="paper",
                    x=1,
                    y=data.nominal_coverage,
                    yref="y",
                    xanchor="right",
                    yanchor="bottom",
                    text=f"nominal {data.nominal_coverage:.0%}",
                    showarrow=False,
                    font=dict(color=RED),
                    bgcolor="rgba(255,255,255,0.85)",  # readable over bars that reach it
                )
            ],
        ),
    )
    parts.append(
        '<div class="charts">'
        + _figure(accuracy_fig, "fig-accuracy")
        + _figure(mase_fig, "fig-mase")
        + _figure(coverage_fig, "fig-coverage")
        + "</div>"
    )
    return "\n".join(parts)


def series_section(data: ReportData) -> str:
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
    plan = data.plan
    if plan is None:
        return '<p class="note">No reorder plan for this run date.</p>'
    qty, money = _number(0), _number(2)
    parts = [
        "<h3>Lines by status</h3>",
        _table(
            plan.status,
            {
                "plan_status": "status",
                "lines": "lines",
                "order_lines": "order lines",
                "units": "units",
                "value": "value",
            },
            {"lines": qty, "order_lines": qty, "units": qty, "value": money},
            table_id="plan-status",
        ),
        "<h3>Orders by supplier</h3>",
        _table(
            plan.suppliers,
            {
                "supplier": "supplier",
                "order_lines": "order lines",
                "released_lines": "released",
                "held_lines": "held for review",
                "units": "units",
                "value": "value",
            },
            {
                "order_lines": qty,
                "released_lines": qty,
                "held_lines": qty,
                "units": qty,
                "value": money,
            },
            table_id="orders-by-supplier",
        ),
        f"<h3>Lines needing review: {plan.review_total:,}</h3>",
        _shown_note(len(plan.review), plan.review_total),
        _table(
            plan.review,
            {
                "sku": "SKU",
                "location": "location",
                "supplier": "supplier",
                "order_qty": "order",
                "prev_order_qty": "previous order",
                "daily_demand": "daily demand",
                "prev_daily_demand": "previous daily demand",
                "reason": "reason",
            },
            {
                "order_qty": qty,
                "prev_order_qty": qty,
                "daily_demand": _number(2),
                "prev_daily_demand": _number(2),
            },
            text_columns=("reason",),
            table_id="review-lines",
        ),
        f"<h3>Projected stockouts: {plan.stockouts_total:,}</h3>",
        '<p class="note">Projected on hand (forecast demand, open orders) goes below zero '
        "before the horizon ends; the last column is the first short day even with this "
        "plan's order.</p>",
        _shown_note(len(plan.stockouts), plan.stockouts_total),
        _table(
            plan.stockouts,
            {
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
            },
            {"on_hand": qty, "daily_demand": _number(2), "order_qty": qty},
            table_id="stockouts",
        ),
        "<h3>Not planned</h3>",
        _table(
            plan.exceptions,
            {"plan_status": "status", "cause": "cause", "lines": "lines"},
            {"lines": qty},
            table_id="not-planned",
        ),
    ]
    return "\n".join(parts)


def _shown_note(shown: int, total: int) -> str:
    if shown >= total:
        return ""
    return f'<p class="note">The first {shown:,} are listed (report.max_table_rows).</p>'


def _layouts(data: ReportData) -> dict:
    """The per-series plots' layouts, built with plotly and drawn by the page's script."""
    run_day = data.run_date.isoformat()
    series_layout = go.Layout(
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
    drivers_layout = go.Layout(
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
    return {
        "series_layout": json.loads(series_layout.to_json()),
        "drivers_layout": json.loads(drivers_layout.to_json()),
    }


def render(data: ReportData, *, generated_at: str) -> str:
    """The whole report as one HTML document."""
    meta = {
        "run_date": data.run_date.isoformat(),
        "band_label": _band_label(data),
        "series_total": data.series_total,
        "has_explanations": data.has_explanations,
        "config": PLOT_CONFIG,
        **_layouts(data),
    }
    runs = ", ".join(f"{k} run {v}" for k, v in data.run_ids.items())
    title = f"skuplan report {data.run_date.isoformat()}"
    shown = len(data.series)
    series_note = f"{data.series_total:,} series forecast" + (
        f", {shown:,} in the explorer (report.max_series)" if shown < data.series_total else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{CSS}</style>
<script>{plotly.offline.get_plotlyjs()}</script>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">Run date {data.run_date.isoformat()} · generated {html.escape(generated_at)}
 · {html.escape(runs)} · {html.escape(series_note)}</p>
<nav><a href="#accuracy">Accuracy</a><a href="#series">Series</a><a href="#plan-summary">Plan</a></nav>
<section id="accuracy">
<h2>Forecast accuracy (backtest)</h2>
{accuracy_section(data)}
</section>
<section id="series">
<h2>Series</h2>
{series_section(data)}
</section>
<section id="plan-summary">
<h2>Plan summary</h2>
{plan_section(data)}
</section>
<script type="application/json" id="report-meta">{_json_for_script(meta)}</script>
<script type="application/json" id="series-data">{_json_for_script("[" + ",".join(data.series) + "]")}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""
