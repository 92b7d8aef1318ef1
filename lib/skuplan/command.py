"""The ``skuplan`` command (and ``python -m skuplan``): one subcommand per job.

``skuplan forecast --run-date 2026-06-30`` runs what ``jobs/train_forecast.py`` runs, with
the same options and exit codes (:mod:`skuplan.cli`); the job names recorded in the ``runs``
table are the same whichever way a job starts. ``skuplan <stage> --help`` prints the config
keys that stage reads, with their defaults and comments from ``base.yaml``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from skuplan.errors import RuntimeSetupError, SkuplanError

for _module in ("pyspark", "delta"):  # the `spark` extra, or a Spark runtime's own
    try:
        importlib.import_module(_module)
    except ImportError:
        sys.stderr.write(
            f"skuplan: {_module} is not installed: pip install 'skuplan[spark]' "
            "(Spark runtimes such as Databricks bring their own)\n"
        )
        raise SystemExit(RuntimeSetupError.exit_code) from None

from skuplan import __version__, cli  # noqa: E402 (after the check: they need pyspark)
from skuplan.conf_layers import default_conf_dir  # noqa: E402


@dataclass(frozen=True)
class Stage:
    job: str  # its name in the runs table and under jobs/
    module: str  # holds run(spark, conf)
    summary: str
    keys: tuple[str, ...]  # the config sections it reads, besides warehouse, spark and tables


STAGES = {
    "ingest": Stage(
        "ingest_files",
        "skuplan.pipeline.ingest",
        "load a file into raw_sales (by a source's column mapping), an input table or a "
        "driver table",
        ("validation.sources", "validation.ingest"),
    ),
    "validate": Stage(
        "validate_sales",
        "skuplan.pipeline.validate",
        "row rules, quarantine and quality gates: raw_sales -> clean_sales",
        ("validation",),
    ),
    "forecast": Stage(
        "train_forecast",
        "skuplan.pipeline.forecast",
        "cross-validate, combine and forecast every series: clean_sales -> forecasts",
        ("forecast",),
    ),
    "plan": Stage(
        "plan_replenishment",
        "skuplan.pipeline.plan",
        "safety stock, reorder points and orders: forecasts -> reorder_plan, erp_outbox",
        ("plan",),
    ),
    "report": Stage(
        "report", "skuplan.pipeline.report", "the run's static HTML report", ("report",)
    ),
    "run": Stage(
        "run_pipeline",
        "skuplan.pipeline.run_all",
        "validate, forecast, plan and report in one session",
        ("validation", "forecast", "plan", "report"),
    ),
    "demo": Stage(
        "generate_demo_data",
        "skuplan.pipeline.demo",
        "generate the demo's raw tables, then run the pipeline on them (what `make demo` runs)",
        ("demo",),
    ),
}
COMMON_KEYS = ("warehouse", "spark", "tables")


def config_block(text: str, dotted: str) -> str:
    """The lines of YAML ``text`` under key ``dotted`` (``a.b``), with the comment lines just
    above it and its parents' key lines, as written (comments kept)."""
    lines = text.splitlines()
    start, end, indent, shown = 0, len(lines), 0, []
    for part in dotted.split("."):
        pattern = re.compile(rf"^ {{{indent}}}{re.escape(part)}:")
        at = next((i for i in range(start, end) if pattern.match(lines[i])), None)
        if at is None:
            raise KeyError(dotted)
        first = at
        while first > start and lines[first - 1].strip().startswith("#"):
            first -= 1
        stop = at + 1
        while stop < end and (not lines[stop].strip() or _indent(lines[stop]) > indent):
            stop += 1
        shown.append(lines[at])
        start, end = at + 1, stop
        indent = next((_indent(line) for line in lines[start:end] if line.strip()), indent + 2)
    body = lines[first:end]
    return "\n".join([*shown[:-1], *body]).rstrip()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _keys_help(keys: Sequence[str]) -> str:
    base = default_conf_dir() / "base.yaml"
    try:
        text = base.read_text()
        blocks = [config_block(text, key) for key in keys]
    except (OSError, KeyError):
        return ""
    shared = ", ".join(COMMON_KEYS)
    return (
        f"config keys it reads (as in {base}; override with --set KEY=VALUE or an --env "
        f"overlay), besides {shared}:\n\n" + "\n\n".join(blocks)
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skuplan",
        description="Demand forecasting and replenishment planning on Apache Spark and Delta Lake.",
        epilog="`skuplan <command> --help` lists the config keys each stage reads.",
    )
    parser.add_argument("--version", action="version", version=f"skuplan {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, stage in STAGES.items():
        sub = commands.add_parser(
            name,
            help=stage.summary,
            description=f"{stage.summary} (the job {stage.job}).",
            epilog=_keys_help(stage.keys),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        cli.add_job_options(sub)
        if name == "ingest":
            sub.add_argument("--file", help="the file to load (validation.ingest.file)")
            sub.add_argument("--source", help="its column mapping (validation.ingest.source)")
            sub.add_argument(
                "--table",
                help="raw_sales (default), an input table (items, locations, inventory, ...) "
                "or a driver table (validation.ingest.table)",
            )
        if name == "demo":
            sub.add_argument(
                "--force", action="store_true", help="replace raw tables it did not write"
            )
    setup = commands.add_parser(
        "setup",
        help="fetch Delta's jars into spark.jars_dir, outside a checkout ~/.cache/skuplan/jars "
        "(what `make setup` runs; no Maven needed)",
        description="Fetch Delta's jars, matching the installed pyspark and delta-spark, from a "
        "Maven repository into spark.jars_dir, checked against the repository's SHA-1.",
    )
    cli.add_job_options(setup)
    setup.add_argument("--repo", help="a Maven repository URL (default: Maven Central)")
    commands.add_parser(
        "completion",
        help='print a bash completion script: eval "$(skuplan completion)" in ~/.bashrc',
        description="Print a bash completion script for the commands, their options and --env "
        "overlays (zsh: run `autoload -U bashcompinit && bashcompinit` first).",
    )
    return parser


def bash_completion(parser: argparse.ArgumentParser) -> str:
    """A bash completion function for ``parser``'s commands, their options and ``--env``
    values (the config folder's overlays); anything else completes as a file name."""
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    cases = [
        f'        {name}) words="{" ".join(sorted(_long_options(sub)))}" ;;'
        for name, sub in commands.choices.items()
    ]
    envs = sorted(p.stem for p in default_conf_dir().glob("*.yaml") if p.stem != "base")
    lines = [
        "# skuplan's bash completion (from `skuplan completion`)",
        "_skuplan() {",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" words=""',
        '    if [[ "${COMP_WORDS[COMP_CWORD-1]}" == --env ]]; then',
        f'        COMPREPLY=($(compgen -W "{" ".join(envs)}" -- "$cur")); return',
        "    fi",
        "    if [[ $COMP_CWORD -eq 1 ]]; then",
        f'        words="{" ".join(commands.choices)} --help --version"',
        "    elif [[ $cur == -* ]]; then",
        '        case "${COMP_WORDS[1]}" in',
        *cases,
        "        esac",
        "    fi",
        '    COMPREPLY=($(compgen -W "$words" -- "$cur"))',
        "}",
        "complete -o default -F _skuplan skuplan",
    ]
    return "\n".join(lines) + "\n"


def _long_options(parser: argparse.ArgumentParser) -> list[str]:
    return [o for action in parser._actions for o in action.option_strings if o.startswith("--")]


def _with_shortcuts(args: argparse.Namespace) -> argparse.Namespace:
    extra = {
        "validation.ingest.file": getattr(args, "file", None),
        "validation.ingest.source": getattr(args, "source", None),
        "validation.ingest.table": getattr(args, "table", None),
        "demo.force": True if getattr(args, "force", False) else None,
    }
    # As YAML strings (JSON quoting): a path like "sales #1.csv" or "2026-06-30" stays text.
    args.set = [*args.set, *(f"{key}={json.dumps(value)}" for key, value in extra.items() if value)]
    return args


def _setup(args: argparse.Namespace) -> int:
    from skuplan import jars
    from skuplan.conf import load_conf

    try:
        conf = load_conf(args.conf, args.env, args.run_date, args.set)
        dest = conf.jars_dir()
        found = jars.fetch_delta_jars(dest, **({"repo": args.repo} if args.repo else {}))
    except SkuplanError as exc:
        print(f"setup: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"{len(found)} jars in {dest}: {', '.join(p.name for p in found)}")
    return 0


def _run(name: str, args: argparse.Namespace) -> int:
    stage = STAGES[name]
    code = cli.execute(stage.job, importlib.import_module(stage.module).run, args)
    if name == "demo" and code == 0:
        run = STAGES["run"]
        code = cli.execute(run.job, importlib.import_module(run.module).run, args)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "completion":
        print(bash_completion(parser), end="")
        return 0
    args = _with_shortcuts(args)
    if args.command == "setup":
        return _setup(args)
    return _run(args.command, args)


def script() -> None:
    """The console script's entry point."""
    sys.exit(main())
