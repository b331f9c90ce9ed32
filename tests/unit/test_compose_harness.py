"""tests/compose/run.sh (make test-compose) stops with one line naming the step and the fix."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "tests" / "compose" / "run.sh"


def _stub(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def _run_without_the_engine(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "date", "sed", "cat", "grep", "sort", "cut", "tr"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    _stub(bin_dir, "dpkg-query", "exit 1")  # nothing of the engine is installed
    _stub(bin_dir, "id", "echo 1000")  # and we are not root
    env = {"PATH": str(bin_dir), "AIRFLOW_OPS_COMPOSE_STATE": str(tmp_path / "state"), "HOME": str(tmp_path)}
    return subprocess.run(
        ["bash", str(RUN)], capture_output=True, text=True, timeout=60, check=False, env=env, cwd=tmp_path
    )


def test_a_missing_engine_names_the_packages_and_the_command(tmp_path: Path) -> None:
    proc = _run_without_the_engine(tmp_path)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("test-compose: ")]
    assert errors == [
        "test-compose: engine: packages, containers.conf, compose plugin: Debian packages missing: "
        "podman buildah runc conmon netavark aardvark-dns golang-github-containers-common debootstrap "
        "iptables ca-certificates curl: run as root, or: sudo apt-get install -y podman buildah runc "
        "conmon netavark aardvark-dns golang-github-containers-common debootstrap iptables "
        "ca-certificates curl"
    ]
    assert "FAILED" in proc.stdout


def test_a_missing_engine_starts_nothing(tmp_path: Path) -> None:
    _run_without_the_engine(tmp_path)
    assert not (tmp_path / "state").exists()
    assert os.listdir(tmp_path) == ["bin"]
