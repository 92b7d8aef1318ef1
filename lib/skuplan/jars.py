"""Delta's jars, fetched from a Maven repository without Maven (``skuplan setup``).

The artefact follows the installed Python packages: ``io.delta:delta-spark_<Spark x.y>_2.13``
at the installed ``delta-spark`` version. Its ``io.delta`` dependencies (storage, kernel) are
read from the POMs, transitively; everything else they name is already on Spark's classpath.
Each file is checked against the repository's SHA-1 before use, and the folder is replaced
whole, so an interrupted setup leaves the previous jars (or none), never a mix.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

from skuplan.errors import RuntimeSetupError

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
GROUP = "io.delta"
_POM = {"m": "http://maven.apache.org/POM/4.0.0"}


def delta_artifact() -> tuple[str, str]:
    """``(artifactId, version)`` of the Delta jar matching the installed pyspark and delta-spark."""
    spark = ".".join(importlib.metadata.version("pyspark").split(".")[:2])
    return f"delta-spark_{spark}_2.13", importlib.metadata.version("delta-spark")


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.read()
    except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts; a URL without a scheme
        raise RuntimeSetupError(f"cannot fetch {url}: {exc}") from None


def _checked(repo: str, artifact: str, version: str, ext: str) -> bytes:
    url = f"{repo.rstrip('/')}/{GROUP.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.{ext}"
    data = _fetch(url)
    words = _fetch(f"{url}.sha1").decode("ascii", "replace").split()
    expected = words[0].lower() if words else "(an empty checksum file)"
    actual = hashlib.sha1(data).hexdigest()
    if actual != expected:
        raise RuntimeSetupError(f"{url}: SHA-1 {actual} does not match the repository's {expected}")
    return data


def delta_dependencies(pom: bytes, version: str) -> list[tuple[str, str]]:
    """The ``io.delta`` artefacts a POM needs at run time (not test, provided or optional).

    Raises:
        RuntimeSetupError: the POM is not XML.
    """
    try:
        root = ET.fromstring(pom)
    except ET.ParseError as exc:
        raise RuntimeSetupError(f"a POM that is not XML ({exc})") from None
    deps = []
    for dep in root.iterfind("m:dependencies/m:dependency", _POM):
        field = {child.tag.split("}")[-1]: (child.text or "").strip() for child in dep}
        if field.get("groupId") != GROUP or field.get("optional") == "true":
            continue
        if field.get("scope", "compile") not in ("compile", "runtime"):
            continue
        dep_version = field.get("version", "${project.version}")
        deps.append((field["artifactId"], version if dep_version.startswith("${") else dep_version))
    return deps


def fetch_delta_jars(
    dest: Path, repo: str = MAVEN_CENTRAL, artifact: tuple[str, str] | None = None
) -> list[Path]:
    """Resolve ``artifact`` (default :func:`delta_artifact`) and its Delta dependencies from
    ``repo`` into ``dest``, replacing what was there; return the jars.

    Raises:
        RuntimeSetupError: a file cannot be fetched or fails its checksum.
    """
    staging = dest.with_name(f"{dest.name}.partial")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        todo, seen = [artifact or delta_artifact()], set()
        while todo:
            name, version = todo.pop()
            if (name, version) in seen:
                continue
            seen.add((name, version))
            todo.extend(delta_dependencies(_checked(repo, name, version, "pom"), version))
            (staging / f"{name}-{version}.jar").write_bytes(_checked(repo, name, version, "jar"))
        shutil.rmtree(dest, ignore_errors=True)
        staging.rename(dest)
    except OSError as exc:  # a folder that cannot be written or replaced
        raise RuntimeSetupError(f"cannot write Delta's jars to {dest}: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(dest.glob("*.jar"))
