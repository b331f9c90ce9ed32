"""The generator renders config into thin DAG files and detects drift."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_ops.config import parse_config
from airflow_ops_tools.generator import render_dag_file

pytestmark = pytest.mark.process

REPO = Path(__file__).parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "configs"


def _generate(config_dir: Path, dags_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "generate_dags.py"),
            "--config-dir",
            str(config_dir),
            "--dags-dir",
            str(dags_dir),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_committed_dags_match_the_generator() -> None:
    proc = _generate(REPO / "config", REPO / "dags", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ["bad_unknown_key", "bad_type", "bad_range", "bad_yaml", "bad_kind"])
def test_generator_exits_non_zero_and_names_the_file(tmp_path: Path, name: str) -> None:
    cfg_dir = tmp_path / "config"
    cfg_dir.mkdir()
    shutil.copy(FIXTURES / f"{name}.yml", cfg_dir)
    proc = _generate(cfg_dir, tmp_path / "dags")
    assert proc.returncode == 2
    assert f"{name}.yml" in proc.stderr
    assert not (tmp_path / "dags").exists(), "nothing may be written when a config is invalid"


def test_check_reports_a_hand_edited_file(tmp_path: Path) -> None:
    cfg_dir, dags_dir = tmp_path / "config", tmp_path / "dags"
    shutil.copytree(REPO / "config", cfg_dir)
    assert _generate(cfg_dir, dags_dir).returncode == 0
    target = dags_dir / "ops_health_probe.py"
    target.write_text(target.read_text() + "\n# hand edit\n")
    proc = _generate(cfg_dir, dags_dir, "--check")
    assert proc.returncode == 1
    assert "ops_health_probe.py differs" in proc.stdout


def test_check_reports_an_orphan_generated_file(tmp_path: Path) -> None:
    cfg_dir, dags_dir = tmp_path / "config", tmp_path / "dags"
    shutil.copytree(REPO / "config", cfg_dir)
    assert _generate(cfg_dir, dags_dir).returncode == 0
    (cfg_dir / "ops_health_probe.yml").unlink()
    proc = _generate(cfg_dir, dags_dir, "--check")
    assert proc.returncode == 1
    assert "config is gone" in proc.stdout


def test_duplicate_dag_ids_are_refused(tmp_path: Path) -> None:
    cfg_dir = tmp_path / "config"
    cfg_dir.mkdir()
    (cfg_dir / "a.yml").write_text("kind: health_probe\ndag_id: a\n")
    (cfg_dir / "b.yaml").write_text("kind: health_probe\ndag_id: a\n")
    proc = _generate(cfg_dir, tmp_path / "dags")
    assert proc.returncode == 2


def test_adding_a_yaml_file_adds_a_dag(tmp_path: Path) -> None:
    cfg_dir, dags_dir = tmp_path / "config", tmp_path / "dags"
    shutil.copytree(REPO / "config", cfg_dir)
    (cfg_dir / "ops_health_probe_eu.yml").write_text(
        "kind: health_probe\ndag_id: ops_health_probe_eu\n"
        "schedule: '*/10 * * * *'\napi_conn_id: airflow_eu_api\n"
    )
    assert _generate(cfg_dir, dags_dir).returncode == 0
    text = (dags_dir / "ops_health_probe_eu.py").read_text()
    assert "'api_conn_id': 'airflow_eu_api'" in text
    assert "build_dag(" in text


def test_rendered_file_is_thin_and_carries_the_doc() -> None:
    cfg = parse_config({"kind": "health_probe", "dag_id": "x", "description": "Probe X"})
    text = render_dag_file(cfg, "config/x.yml")
    code = text.split('"""')[2]
    # No logic: imports, the sys.path line for git-sync, one build_dag call on a data literal.
    assert code.count("def ") == 0 and code.count("build_dag(") == 1
    assert "'kind': 'health_probe'" in code and "'dagrun_timeout_minutes': 4" in code  # defaults written out
    assert "Probe X" in text.split('"""')[1]
    compile(text, "x.py", "exec")
