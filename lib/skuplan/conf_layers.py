"""Where configuration comes from and how its layers merge: the config folder (a checkout's
``conf/``, else the files the package ships), YAML files, deep merges and ``--set`` pairs.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from skuplan.errors import ConfigError

SHIPPED = Path(__file__).resolve().parent / "defaults"  # conf/ and expectations/, as package data
# Delta's jars outside a checkout (skuplan setup puts them there once for every folder).
USER_JARS = Path.home() / ".cache" / "skuplan" / "jars"


def default_conf_dir() -> Path:
    """``./conf`` when the working directory has a ``base.yaml`` there, else the shipped one."""
    local = Path("conf")
    return local if (local / "base.yaml").is_file() else SHIPPED / "conf"


def deep_merge(base: dict, overlay: dict, *, at: tuple[str, ...] = ()) -> dict:
    """``overlay`` over ``base``: nested mappings merge, except a table's address (a mapping
    under ``tables``), which the overlay replaces whole."""
    merged = dict(base)
    for key, value in overlay.items():
        replace_whole = at == ("tables",)
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and not replace_whole:
            merged[key] = deep_merge(merged[key], value, at=(*at, key))
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def parse_overrides(pairs: list[str]) -> dict:
    """``["a.b=1", "c=x"]`` -> ``{"a": {"b": 1}, "c": "x"}`` (values parsed as YAML)."""
    result: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        node = result
        parts = key.strip().split(".")
        if parts[:2] == ["spark", "options"] and len(parts) > 3:
            # Spark option names contain dots: spark.options.spark.sql.x=1 sets "spark.sql.x".
            parts = [*parts[:2], ".".join(parts[2:])]
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {pair!r} conflicts with another --set")
        node[parts[-1]] = value
    return result
