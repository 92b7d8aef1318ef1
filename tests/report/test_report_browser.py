"""The report in a real browser: headless Chromium opens the file the pipeline wrote.

Needs Debian's chromium (``make browser``, which ``make test`` runs first); skipped without it.
A screenshot and the HTML are kept under ``test-artifacts/`` for a person to look at.
"""

import shutil
import subprocess
from collections import defaultdict
from html.parser import HTMLParser

import pyspark.sql.functions as F
import pytest

from skuplan import delta_io
from skuplan.pipeline import report

from conftest import ROOT

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium")
ARTIFACTS = ROOT / "test-artifacts"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class Dom(HTMLParser):
    """Elements of a dumped DOM with the ids of their ancestors, and the text under each id."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None]] = []
        self.elements: list[tuple[str, dict, tuple[str, ...]]] = []
        self.text: dict[str, str] = defaultdict(str)
        self.feed(text)

    def _ids(self) -> tuple[str, ...]:
        return tuple(i for _, i in self.stack if i)

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        self.elements.append((tag, attrs, self._ids()))
        if tag not in VOID:
            self.stack.append((tag, attrs.get("id")))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}, self._ids()))

    def handle_endtag(self, tag):
        for k in range(len(self.stack) - 1, -1, -1):
            if self.stack[k][0] == tag:
                del self.stack[k:]
                break

    def handle_data(self, data):
        for i in self._ids():
            self.text[i] += data

    def find(self, inside: str, tag: str, cls: str | None = None) -> list[dict]:
        """Attributes of the ``tag`` elements (with class ``cls``) under the element ``inside``."""
        return [
            attrs
            for t, attrs, ids in self.elements
            if t == tag and inside in ids and (cls is None or cls in attrs.get("class", "").split())
        ]

    def by_id(self, element_id: str) -> dict:
        (attrs,) = [a for _, a, _ in self.elements if a.get("id") == element_id]
        return attrs


def _chromium(tmp_path, url: str, *args: str) -> subprocess.CompletedProcess:
    """Run chromium on ``url`` with a fresh profile; ``args`` say what to produce."""
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    # --virtual-time-budget lets the page's scripts (plotly draws on load) finish first.
    command = [
        CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1400,2400",
        "--virtual-time-budget=20000", *args, url,
    ]  # fmt: skip
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def _write_explanations(spark, conf, sku, location):
    """Replace the run's explanations with three known drivers for one series' chosen model."""
    forecasts_df = delta_io.read_table(spark, conf.table("forecasts")).filter(
        (F.col("sku") == sku) & (F.col("location") == location)
    )
    drivers_df = spark.createDataFrame(
        [("promotion", 2.0), ("weekday", -0.5), ("trend", 0.25)], "driver string, scale double"
    )
    explanations_df = forecasts_df.crossJoin(drivers_df).select(
        F.lit("train_forecast-test").alias("run_id"), "run_date", "sku", "location", "date",
        "model", "driver", (F.col("scale") * F.col("step")).alias("contribution"),
    )  # fmt: skip
    delta_io.replace_partition(
        explanations_df, conf.table("explanations"), "run_date", conf.run_date
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make browser)")
def test_report_renders_in_headless_chromium(spark, end_to_end, tmp_path):
    # The session's end-to-end run (conftest.END_TO_END: report.max_drivers=2), copied: this
    # test rewrites explanations and the report.
    summary = end_to_end.summary
    assert str(summary).splitlines()[-1].startswith(f"report: {summary.report.path}")
    conf = end_to_end.copy_to(tmp_path / "run")
    path = report.report_path(conf)  # the run's report, copied
    assert path.name == summary.report.path.name and path.is_file()

    forecast_keys = (
        delta_io.read_table(spark, conf.table("forecasts")).select("sku", "location").distinct()
    )
    keys = sorted(tuple(r) for r in forecast_keys.collect())
    plan = {
        (r.sku, r.location): r
        for r in delta_io.read_table(spark, conf.table("reorder_plan")).collect()
    }
    suppliers = {r.supplier for r in plan.values() if (r.order_qty or 0) > 0}

    # The forecast stage's own explanations (LightGBM SHAP in planner terms) are drawn.
    chosen = delta_io.read_table(spark, conf.table("forecasts")).select("sku", "location", "model")
    drivers = (
        delta_io.read_table(spark, conf.table("explanations"))
        .join(chosen.distinct(), ["sku", "location", "model"])
        .groupBy("sku", "location")
        .agg(F.count_distinct("driver").alias("n"))
        .orderBy("sku", "location")
        .first()
    )
    assert drivers is not None, "no series' chosen model explained itself in this run"
    dom = Dom(
        _chromium(
            tmp_path,
            f"{path.as_uri()}#sku={drivers.sku}&location={drivers.location}",
            "--dump-dom",
        ).stdout
    )
    assert dom.text["series-title"] == f"{drivers.sku} @ {drivers.location}"
    # The two largest drivers, and the rest summed (report.max_drivers=2).
    assert len(dom.find("drivers-plot", "g", "bars")) == min(drivers.n, 2) + (drivers.n > 2)

    (first, second) = keys[:2]
    _write_explanations(spark, conf, *first)
    path = report.run(spark, conf).path
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTIFACTS / "report.html")

    dom = Dom(_chromium(tmp_path, path.as_uri(), "--dump-dom").stdout)
    # The series list holds every forecast series; the first one is drawn.
    assert len(dom.find("series-list", "li")) == len(keys)
    assert dom.text["series-count"] == f"{len(keys)} of {len(keys)} series"
    assert dom.text["series-title"] == f"{first[0]} @ {first[1]}"
    assert dom.text["series-reason"] == plan[first].reason
    assert dom.find("series-plot", "svg", "main-svg")
    # band (2 traces), sales, P50 and forecast, plus stockout markers when there are any.
    assert len(dom.find("series-plot", "g", "scatter")) >= 5
    # Drivers: the two largest of the three written and the third (report.max_drivers=2).
    assert len(dom.find("drivers-plot", "g", "bars")) == 3
    assert "hidden" not in dom.by_id("drivers-plot") and dom.text["drivers-note"] == ""
    for figure in ("fig-accuracy", "fig-mase", "fig-coverage"):
        assert dom.find(figure, "svg", "main-svg"), figure
    assert len(dom.find("accuracy-table", "tr")) >= 3  # heading, chosen, at least one model
    # Plan summary: one row per supplier with an order.
    assert len(dom.find("orders-by-supplier", "tr")) == 1 + len(suppliers)
    assert dom.find("plan-summary", "table")

    # A series without explanations says so; a link's filter hides the other series.
    location = second[1]
    dom = Dom(
        _chromium(
            tmp_path,
            f"{path.as_uri()}#filter={location}&sku={second[0]}&location={location}",
            "--dump-dom",
        ).stdout
    )
    assert dom.text["series-title"] == f"{second[0]} @ {location}"
    assert dom.text["drivers-note"].startswith("No explanations for this model")
    shown = [li for li in dom.find("series-list", "li") if "hidden" not in li]
    assert len(shown) == sum(1 for _, loc in keys if location in loc) < len(keys)

    screenshot = ARTIFACTS / "report.png"
    screenshot.unlink(missing_ok=True)
    _chromium(tmp_path, path.as_uri(), f"--screenshot={screenshot}")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 50_000  # a blank page is a few kB
