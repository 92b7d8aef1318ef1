"""`make bench`: every benchmark in one run; a table on stdout, the figures in BENCHMARKS.md.

Runs, each in a fresh process on ``local[2]``:

1. fan-out efficiency (``bench/fanout.py``): the Spark job against the single-process limit;
2. the peer pattern against this project's forecast job on store-item demand, with held-out
   accuracy, and accuracy on M5 (daily, with drivers), Walmart (weekly) and car parts
   (monthly, intermittent), each against its single candidates and two baselines
   (``bench/accuracy.py``; skipped with a message when ``../shared/data`` is absent);
3. the scale curve (``bench/scale.py``): 1k and 5k generated series through
   validate -> forecast -> plan. The 30k (M5-size) point is a manual run (about an hour):
   ``.venv/bin/python bench/scale.py --series 30000``.

The generated block of BENCHMARKS.md (between the ``make bench`` markers) is replaced; the
notes around it are kept. ``--smoke`` runs tiny versions of everything (what CI runs: it
checks that the benchmark code works, not how fast it is) and writes to ``--out`` only.

Usage (from the project root)::

    make bench                                     # or: .venv/bin/python bench/suite.py
    .venv/bin/python bench/suite.py --smoke --out /tmp/bench.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from common import cpu_text, machine  # noqa: E402
from scale import format_table  # noqa: E402

BEGIN, END = "<!-- make bench: begin -->", "<!-- make bench: end -->"
DATA = ROOT.parent / "shared" / "data"

FULL = {
    "fanout": ["--series", "240", "--repeats", "3"],
    "peer": ["--datasets", "store_item", "--peer", "--no-prophet-alone"],
    "accuracy": ["--datasets", "m5,walmart,carparts", "--no-prophet-alone"],
    "scale": ["--series", "1000,5000", "--days", "1941"],
}
SMOKE = {
    "fanout": ["--series", "4", "--repeats", "1", "--models", "seasonal_naive,moving_average"],
    "peer": [
        "--datasets",
        "store_item",
        "--peer",
        "--no-prophet-alone",
        "--max-items",
        "1",
        "--models",
        "seasonal_naive,moving_average",
    ],
    "accuracy": None,
    "scale": [
        *("--series", "10", "--days", "120", "--driver-memory", "1g"),
        *("--models", "seasonal_naive,moving_average"),
    ],
}
SCRIPTS = {"fanout": "fanout.py", "peer": "accuracy.py", "accuracy": "accuracy.py",
           "scale": "scale.py"}  # fmt: skip


def _run(name: str, args: list[str], tmp: Path) -> object:
    out = tmp / f"{name}.json"
    flag = "--out" if SCRIPTS[name] == "accuracy.py" else "--json"
    cmd = [sys.executable, str(ROOT / "bench" / SCRIPTS[name]), *args, flag, str(out)]
    print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    return json.loads(out.read_text()) if out.exists() else None


def _fanout_md(r: dict) -> str:
    n = r["series"]
    return "\n".join(
        [
            f"{n} demo series ({r['history_days']} days daily), models "
            f"{r['models'].replace(',', ', ')}, {r['folds']} backtest folds, "
            f"local[{r['cores']}], {r['tasks']} fan-out tasks; medians of "
            f"{r['repeats']}, both warmed first.",
            "",
            "| run | median | series/s | |",
            "|---|---|---|---|",
            f"| single-process loop | {r['loop_s']:.1f} s | {n / r['loop_s']:.2f} | "
            f"{r['loop_cores_busy']:.2f} cores busy; CPU s: {cpu_text(r['loop_cpu'])} |",
            f"| Spark `applyInPandas` | {r['spark_s']:.1f} s | {n / r['spark_s']:.2f} | "
            f"CPU s: {cpu_text(r['spark_cpu'])}; idle {r['spark_idle_core_s']:.1f} core-s |",
            f"| **efficiency** vs {r['cores']} x loop | **{r['efficiency']:.2f}** | | target >= 0.9 |",
        ]
    )


def _accuracy_md(rows: list[dict]) -> str:
    lines = [
        "| dataset | forecast | RMSSE / seasonal naive | WAPE | MASE mean | P10-P90 coverage "
        "| below P10 / above P90 | validate s | forecast s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cov = r.get("coverage_p10_p90")
        sides = f"{r['below_p10']:.1%} / {r['above_p90']:.1%}" if "above_p90" in r else ""
        name = f"**{r['forecast']}**" if r["forecast"] == "final" else r["forecast"]
        lines.append(
            f"| {r['dataset']} | {name} | {r['rmsse_ratio']:.3f} | {r['wape']:.4f} "
            f"| {r['mase_mean']:.3f} | {'' if cov is None else f'{cov:.1%}'} | {sides} "
            f"| {r.get('validate_s', '')} | {r.get('seconds', '')} |"
        )
    return "\n".join(lines)


def _peer_md(rows: list[dict]) -> str:
    ours = next(r for r in rows if r["forecast"] == "final")
    peer = next(r for r in rows if r["forecast"].startswith("peer"))
    return "\n".join(
        [
            "| | forecast job (this project) | peer pattern |",
            "|---|---|---|",
            f"| wall time | {ours['seconds']:.0f} s | {peer['seconds']:.0f} s |",
            f"| wall-time ratio (job / peer) | {ours['seconds'] / peer['seconds']:.2f} | 1.00 |",
            f"| WAPE | {ours['wape']:.4f} | {peer['wape']:.4f} |",
            f"| MASE mean | {ours['mase_mean']:.3f} | {peer['mase_mean']:.3f} |",
            f"| P10-P90 coverage | {ours.get('coverage_p10_p90', 0):.1%} | (95% interval only) |",
        ]
    )


def render(results: dict, command: str, started: dt.datetime, seconds: float) -> str:
    m = results["machine"]
    parts = [
        BEGIN,
        f"Generated by `{command}` on {started:%Y-%m-%d %H:%M} UTC in {seconds / 60:.0f} minutes "
        f"(commit {m['commit']}).",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in m.items() if k != "commit"],
        "",
        "### Fan-out efficiency",
        "",
        _fanout_md(results["fanout"]),
    ]
    if results.get("peer"):
        parts += ["", "### Peer pattern: Prophet per store-item (store-item demand, 90 days held out)",
                  "", _peer_md(results["peer"])]  # fmt: skip
    accuracy = (results.get("peer") or []) + (results.get("accuracy") or [])
    if accuracy:
        parts += ["", "### Held-out accuracy", "", _accuracy_md(accuracy)]
    else:
        parts += ["", f"Accuracy and the peer pattern skipped: no datasets at {DATA}."]
    parts += ["", "### Scale curve (validate -> forecast -> plan)", "",
              format_table(results["scale"]), END]  # fmt: skip
    return "\n".join(parts) + "\n"


def write_block(path: Path, block: str) -> None:
    """Replace the generated block of ``path`` (appended when the file has none)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block.rstrip("\n") + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny versions of everything")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    started, t0 = dt.datetime.now(dt.UTC), time.perf_counter()
    results: dict = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="skuplan-bench-") as tmp:
        for name, bench_args in plan.items():
            if bench_args is None or (name in ("peer", "accuracy") and not DATA.is_dir()):
                continue
            results[name] = _run(name, bench_args, Path(tmp))
    command = "bench/suite.py --smoke" if args.smoke else "make bench"
    block = render(results, command, started, time.perf_counter() - t0)
    print(block)
    write_block(args.out, block)
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
