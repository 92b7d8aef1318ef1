"""Delta's jars without Maven: resolved from POMs in a Maven repository layout, checksummed."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from skuplan import jars
from skuplan.errors import RuntimeSetupError

POM = """<?xml version="1.0"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <groupId>io.delta</groupId><artifactId>{name}</artifactId><version>{version}</version>
  <dependencies>{deps}</dependencies>
</project>"""
DEP = "<dependency><groupId>{group}</groupId><artifactId>{name}</artifactId>{extra}</dependency>"


def _publish(repo, name, deps="", jar=None, version="1.0"):
    folder = repo / "io" / "delta" / name / version
    folder.mkdir(parents=True, exist_ok=True)
    pom = POM.format(name=name, deps=deps, version=version).encode()
    for ext, data in {"pom": pom, "jar": jar or name.encode() * 50}.items():
        (folder / f"{name}-{version}.{ext}").write_bytes(data)
        (folder / f"{name}-{version}.{ext}.sha1").write_text(hashlib.sha1(data).hexdigest() + "\n")
    return folder


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "repo"
    deps = "".join(
        [
            DEP.format(group="io.delta", name="delta-storage", extra="<version>${project.version}</version>"),
            DEP.format(group="io.delta", name="delta-kernel", extra="<version>1.0</version>"),
            DEP.format(group="io.delta", name="delta-test-kit", extra="<version>1.0</version><scope>test</scope>"),
            DEP.format(group="io.delta", name="delta-extra", extra="<version>1.0</version><optional>true</optional>"),
            DEP.format(group="org.scala-lang", name="scala-library", extra="<version>2.13</version>"),
        ]
    )  # fmt: skip
    _publish(repo, "delta-spark_9.9_2.13", deps)
    _publish(repo, "delta-storage")
    kernel_deps = DEP.format(group="io.delta", name="delta-storage", extra="<version>1.0</version>")
    _publish(repo, "delta-kernel", kernel_deps)
    return repo


def test_resolves_run_time_delta_dependencies_and_replaces_the_folder(repo, tmp_path):
    dest = tmp_path / "jars"
    dest.mkdir()
    (dest / "delta-spark_9.9_2.13-0.9.jar").write_bytes(b"an older version")
    found = jars.fetch_delta_jars(dest, repo.as_uri(), ("delta-spark_9.9_2.13", "1.0"))
    assert [p.name for p in found] == [
        "delta-kernel-1.0.jar",
        "delta-spark_9.9_2.13-1.0.jar",
        "delta-storage-1.0.jar",
    ]
    assert (dest / "delta-storage-1.0.jar").read_bytes() == b"delta-storage" * 50


def test_a_file_that_fails_its_checksum_leaves_the_previous_jars(repo, tmp_path):
    dest = tmp_path / "jars"
    dest.mkdir()
    (dest / "delta-spark_9.9_2.13-0.9.jar").write_bytes(b"working jars")
    jar = repo / "io" / "delta" / "delta-kernel" / "1.0" / "delta-kernel-1.0.jar"
    jar.write_bytes(b"tampered")
    with pytest.raises(
        RuntimeSetupError, match=r"delta-kernel-1\.0\.jar: SHA-1 \w+ does not match"
    ):
        jars.fetch_delta_jars(dest, repo.as_uri(), ("delta-spark_9.9_2.13", "1.0"))
    assert [p.name for p in dest.iterdir()] == ["delta-spark_9.9_2.13-0.9.jar"]


def test_a_missing_artefact_is_one_clear_error(repo, tmp_path):
    with pytest.raises(RuntimeSetupError, match=r"cannot fetch .*delta-spark_9\.8_2\.13-1\.0\.pom"):
        jars.fetch_delta_jars(tmp_path / "jars", repo.as_uri(), ("delta-spark_9.8_2.13", "1.0"))
    with pytest.raises(RuntimeSetupError, match=r"cannot fetch repo\.example\.com/io/delta"):
        jars.fetch_delta_jars(
            tmp_path / "jars", "repo.example.com", ("delta-spark_9.9_2.13", "1.0")
        )
    pom = repo / "io" / "delta" / "delta-storage" / "1.0" / "delta-storage-1.0.pom"
    (pom.parent / f"{pom.name}.sha1").write_text("")
    with pytest.raises(RuntimeSetupError, match="an empty checksum file"):
        jars.fetch_delta_jars(tmp_path / "jars", repo.as_uri(), ("delta-spark_9.9_2.13", "1.0"))
    assert not (tmp_path / "jars.partial").exists()


def test_the_default_artefact_follows_the_installed_packages():
    import importlib.metadata

    import pyspark

    # The locked versions give the jar the project is tested with.
    assert jars.delta_artifact() == ("delta-spark_4.1_2.13", "4.4.0")
    assert pyspark.__version__.startswith("4.1.")
    assert importlib.metadata.version("delta-spark") == "4.4.0"


def test_skuplan_setup_needs_no_maven_and_fills_the_user_cache_outside_a_checkout(tmp_path):
    # The installed delta-spark's artefact, published in a local repository.
    name, version = jars.delta_artifact()
    repo = tmp_path / "repo"
    storage = DEP.format(
        group="io.delta", name="delta-storage", extra=f"<version>{version}</version>"
    )
    _publish(repo, name, storage, version=version)
    _publish(repo, "delta-storage", version=version)
    elsewhere, home = tmp_path / "project", tmp_path / "home"
    elsewhere.mkdir()
    # Only the venv's own scripts on PATH: no mvn, no java.
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(home)}
    proc = subprocess.run(
        [Path(sys.executable).parent / "skuplan", "setup", "--repo", repo.as_uri()],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    cache = home / ".cache" / "skuplan" / "jars"
    assert sorted(p.name for p in cache.glob("*.jar")) == sorted(
        [f"delta-storage-{version}.jar", f"{name}-{version}.jar"]
    )
    assert str(cache) in proc.stdout and not any(elsewhere.iterdir())
