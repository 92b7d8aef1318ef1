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
    const words = filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
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
