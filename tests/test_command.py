"""The `skuplan` command: subcommands, their help, and the package's shipped files."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from skuplan import command
from skuplan.conf import load_conf

from conftest import ROOT

SKUPLAN = Path(sys.executable).parent / "skuplan"  # the console script pip installed

YAML = """\
# top comment
a: 1
# about b
b:
  x: 1            # the x
  # about c
  c:
    deep: 2
  y: 3
# about d
d: 4
"""


def test_config_block_keeps_comments_and_parents():
    assert command.config_block(YAML, "b") == (
        "# about b\nb:\n  x: 1            # the x\n  # about c\n  c:\n    deep: 2\n  y: 3"
    )
    assert command.config_block(YAML, "b.c") == "b:\n  # about c\n  c:\n    deep: 2"
    assert command.config_block(YAML, "d") == "# about d\nd: 4"
    with pytest.raises(KeyError):
        command.config_block(YAML, "b.nope")


def test_every_stage_section_exists_in_base_yaml():
    text = (ROOT / "conf" / "base.yaml").read_text()
    for stage in command.STAGES.values():
        for key in stage.keys:
            assert command.config_block(text, key)


def _help(*args: str) -> str:
    proc = subprocess.run(
        [SKUPLAN, *args, "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_help_lists_the_commands_and_each_stage_its_config_keys():
    top = _help()
    for name in (*command.STAGES, "setup"):
        assert f"    {name} " in top
    forecast = _help("forecast")
    assert "--run-date" in forecast and "--set KEY=VALUE" in forecast
    assert "  horizon: 28" in forecast and "global_max_series:" in forecast
    assert "safety_stock_method" not in forecast
    assert "  safety_stock_method: auto" in _help("plan")
    assert "--file FILE" in _help("ingest")
    # python -m skuplan is the same command.
    proc = subprocess.run(
        [sys.executable, "-m", "skuplan", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "skuplan 0.1.0"


def test_a_usage_error_exits_2():
    proc = subprocess.run([SKUPLAN, "forcast"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice: 'forcast'" in proc.stderr


@pytest.mark.parametrize("module", ["pyspark", "delta"])
def test_without_pyspark_or_delta_the_command_says_which_extra_to_install(module):
    # What `pip install skuplan` (no `spark` extra) outside a Spark runtime gives.
    code = f"import sys; sys.modules['{module}'] = None; sys.argv = ['skuplan', '--help']; "
    code += "from skuplan.command import script; script()"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 7
    assert proc.stderr.strip().splitlines() == [
        f"skuplan: {module} is not installed: pip install 'skuplan[spark]' "
        "(Spark runtimes such as Databricks bring their own)"
    ]


def test_bash_completion_offers_commands_their_options_and_env_overlays():
    script = subprocess.run(
        [SKUPLAN, "completion"], capture_output=True, text=True, timeout=60, check=True
    ).stdout

    def complete(*words: str) -> list[str]:
        line = " ".join(f"'{w}'" for w in words)
        probe = f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _skuplan; "
        probe += 'printf "%s\\n" "${COMPREPLY[@]}"'
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
        return done.stdout.split()

    assert complete("skuplan", "fo") == ["forecast"]
    assert complete("skuplan", "ingest", "--f") == ["--file"]
    assert complete("skuplan", "demo", "--f") == ["--force"]
    assert complete("skuplan", "plan", "--env", "") == ["cluster", "local", "standalone"]
    assert complete("skuplan", "ingest", "--file", "sa") == []  # bash falls back to files


def test_shortcuts_become_config_overrides():
    args = command._with_shortcuts(
        command.build_parser().parse_args(
            ["ingest", "--file", "s.csv", "--source", "walmart", "--set", "a=1"]
        )
    )
    assert args.set == [
        "a=1", 'validation.ingest.file="s.csv"', 'validation.ingest.source="walmart"',
    ]  # fmt: skip
    demo = command._with_shortcuts(command.build_parser().parse_args(["demo", "--force"]))
    assert demo.set == ["demo.force=true"]
    # Paths that YAML would read as a comment, a date or null stay text.
    for path in ("sales #1.csv", "2026-06-30", "null", "a: b.csv"):
        parsed = command._with_shortcuts(
            command.build_parser().parse_args(["ingest", "--file", path])
        )
        conf = load_conf(ROOT / "conf", "local", overrides=parsed.set)
        assert conf.validation.ingest.file == path


def test_the_wheel_ships_config_suites_and_the_command():
    wheels = sorted((ROOT / "dist").glob("skuplan-*.whl"))
    if not wheels:
        pytest.skip("no wheel in dist/: `make package` builds it (`make test` does)")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        names = set(wheel.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "skuplan = skuplan.command:script" in wheel.read(entry_points).decode()
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    # pyspark only through the `spark` extra: a Spark runtime's own must not be shadowed.
    requires = [r for r in metadata.decode().splitlines() if r.startswith("Requires-Dist: ")]
    spark = [r for r in requires if r.split()[1].startswith(("pyspark", "delta-spark"))]
    assert len(spark) == 2 and all('extra == "spark"' in r for r in spark)
    shipped = {p.name for p in (ROOT / "conf").glob("*.yaml")}
    shipped |= {p.name for p in (ROOT / "expectations").glob("*.json")}
    in_wheel = {Path(n).name for n in names if n.startswith("skuplan/defaults/")}
    assert shipped <= in_wheel
