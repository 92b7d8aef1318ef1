"""What the benchmarks share: CPU and memory measurement, and a description of the machine."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def own_cpu_seconds() -> dict[str, float]:
    """CPU seconds of this process and of its finished children (cmdstan runs as a child),
    named as :func:`tree_cpu_seconds` names them."""
    t = os.times()
    return {"python": t.user + t.system, "python children": t.children_user + t.children_system}


def cpu_seconds() -> float:
    """CPU time of this process and its finished children."""
    return sum(own_cpu_seconds().values())


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree(pid: int):
    """``(pid, program, /proc status fields, /proc stat fields)`` of ``pid`` and all its
    descendants still running. The program is the one run, not the process name: a process
    forked from a named thread inherits the thread's name ("Thread-4")."""
    tree, todo = _children(), [pid]
    while todo:
        p = todo.pop()
        todo += tree.get(p, [])
        try:
            status = Path(f"/proc/{p}/status").read_text().splitlines()
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            argv0 = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status if ":" in line)
        name = Path(argv0).name or fields.get("Name", "?").strip()
        yield p, "python" if name.startswith("python") else name, fields, stat


def tree_rss_bytes(pid: int) -> dict[str, int]:
    """Resident memory of ``pid`` and all its descendants, by program (``java``: the Spark
    JVM; ``python``: this process and the Python workers; cmdstan's optimiser...).

    A JVM's child that is still ``java`` is the JVM between spawning a command (Hadoop's
    ``chmod``, ``rm``) and running it: it shares the JVM's memory and reports all of it,
    so it is not counted (once seen: a 5,000-series run's peak read 13.6 GB of java with a
    6 GB heap)."""
    rows = list(_tree(pid))
    names = {p: name for p, name, _, _ in rows}
    totals: dict[str, int] = {}
    for _, name, fields, stat in rows:
        if name == "java" and names.get(int(stat[1])) == "java":
            continue
        if "VmRSS" in fields:
            totals[name] = totals.get(name, 0) + int(fields["VmRSS"].split()[0]) * 1024
    return totals


def tree_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds used so far by ``pid`` and its running descendants, by program, plus
    ``<program> children``: their finished, waited-for children (the Python processes'
    children are cmdstan's optimiser runs, one per Prophet fit)."""
    tick, totals = os.sysconf("SC_CLK_TCK"), {}
    for _, name, _, stat in _tree(pid):
        # stat fields after the command: utime, stime, cutime, cstime are the 12th-15th.
        own, children = (sum(int(x) for x in stat[i : i + 2]) / tick for i in (11, 13))
        totals[name] = totals.get(name, 0.0) + own
        totals[f"{name} children"] = totals.get(f"{name} children", 0.0) + children
    return totals


def cpu_text(by_program: dict[str, float]) -> str:
    """``{"python": 38.1, "java": 2.2}`` as ``python 38.1, java 2.2``."""
    return ", ".join(f"{k} {v:.1f}" for k, v in by_program.items())


class PeakMemory:
    """Samples the process tree's resident memory every ``interval`` seconds (Linux /proc).

    ``peak`` is the largest total seen, ``at_peak`` its split by program.
    """

    def __init__(self, interval: float = 0.5) -> None:
        self.interval, self.peak, self.at_peak = interval, 0, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            by_program = tree_rss_bytes(os.getpid())
            if sum(by_program.values()) > self.peak:
                self.peak, self.at_peak = sum(by_program.values()), by_program

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def machine() -> dict[str, str]:
    """Cores, memory, CPU model, OS and the versions that matter to the figures."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    versions = {
        name: metadata.version(name)
        for name in (
            "pyspark",
            "delta-spark",
            "pandas",
            "prophet",
            "lightgbm",
            "great_expectations",
        )
    }
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return {
        "cores": str(os.cpu_count()),
        "memory": f"{mem_kb / 2**20:.0f} GB",
        "cpu": cpu,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "java": java.splitlines()[0] if java else "?",
        "commit": commit or "?",
        **versions,
    }
