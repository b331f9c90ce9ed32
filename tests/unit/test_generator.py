"""The generator renders config into thin DAG files and detects drift."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_ops.registry import parse
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
    cfg = parse({"kind": "health_probe", "dag_id": "x", "description": "Probe X"})
    text = render_dag_file(cfg, "config/x.yml")
    code = text.split('"""')[2]
    # No logic: imports, the sys.path line for git-sync, one build_dag call on a data literal.
    assert code.count("def ") == 0 and code.count("build_dag(") == 1
    assert "'kind': 'health_probe'" in code and "'dagrun_timeout_minutes': 4" in code  # defaults written out
    assert "Probe X" in text.split('"""')[1]
    compile(text, "x.py", "exec")


# -- issue 14 item 9: files outside what was asked are only removed with --prune -----------------
def test_generated_files_without_config_are_listed_and_kept(tmp_path: Path) -> None:
    cfg_dir, dags_dir = tmp_path / "config", tmp_path / "dags"
    shutil.copytree(REPO / "config", cfg_dir)
    assert _generate(cfg_dir, dags_dir).returncode == 0
    before = sorted(p.name for p in dags_dir.glob("*.py"))
    # Rendering one other config dir into the same dags/ must not delete the other DAGs.
    only = tmp_path / "only"
    only.mkdir()
    shutil.copy(cfg_dir / "ops_health_probe.yml", only)
    proc = _generate(only, dags_dir)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in dags_dir.glob("*.py")) == before
    kept = [line for line in proc.stderr.splitlines() if line.startswith("kept ")]
    assert len(kept) == len(before) - 1
    assert all("--prune" in line for line in kept)
    assert "removed" not in proc.stdout


def test_prune_deletes_generated_files_without_config_only(tmp_path: Path) -> None:
    cfg_dir, dags_dir = tmp_path / "config", tmp_path / "dags"
    shutil.copytree(REPO / "config", cfg_dir)
    assert _generate(cfg_dir, dags_dir).returncode == 0
    (dags_dir / "hand_written.py").write_text("# not generated\n")
    (cfg_dir / "ops_health_probe.yml").unlink()
    proc = _generate(cfg_dir, dags_dir, "--prune")
    assert proc.returncode == 0, proc.stderr
    assert not (dags_dir / "ops_health_probe.py").exists()
    assert f"remove {dags_dir / 'ops_health_probe.py'}" in proc.stdout
    assert (dags_dir / "hand_written.py").exists(), "a file the generator did not write is never pruned"
    assert (dags_dir / "ops_log_cleanup.py").exists()


@pytest.mark.parametrize(
    ("config_dir", "reason"),
    [
        pytest.param("missing", "does not exist", id="mistyped"),
        pytest.param("empty", "holds no", id="empty"),
        pytest.param("only_readme", "holds no", id="no-yaml"),
        pytest.param("a_file", "is a file", id="file"),
    ],
)
def test_prune_refuses_a_config_dir_that_would_delete_every_dag(
    tmp_path: Path, config_dir: str, reason: str
) -> None:
    dags_dir = tmp_path / "dags"
    assert _generate(REPO / "config", dags_dir).returncode == 0
    before = sorted(p.name for p in dags_dir.glob("*.py"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "only_readme").mkdir()
    (tmp_path / "only_readme" / "README.md").write_text("x")
    (tmp_path / "a_file").write_text("x")
    proc = _generate(tmp_path / config_dir, dags_dir, "--prune")
    assert proc.returncode == 2
    assert reason in proc.stderr and "--config-dir" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert sorted(p.name for p in dags_dir.glob("*.py")) == before, "nothing may be deleted"


def test_prune_dry_run_names_what_it_would_delete_and_deletes_nothing(tmp_path: Path) -> None:
    cfg_dir, dags_dir = tmp_path / "config", tmp_path / "dags"
    shutil.copytree(REPO / "config", cfg_dir)
    assert _generate(cfg_dir, dags_dir).returncode == 0
    (cfg_dir / "ops_health_probe.yml").unlink()
    proc = _generate(cfg_dir, dags_dir, "--prune", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert f"would remove {dags_dir / 'ops_health_probe.py'}" in proc.stdout
    assert (dags_dir / "ops_health_probe.py").exists()


def test_a_file_as_dags_dir_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "dags").write_text("x")
    proc = _generate(REPO / "config", tmp_path / "dags")
    assert proc.returncode == 2 and "--dags-dir" in proc.stderr and "is a file" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_make_generate_prunes_the_repositorys_own_dags() -> None:
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\ngenerate:", 1)[1].split("\n\n", 1)[0]
    assert "airflow-ops generate --prune" in recipe


# -- issue 14 item 8: two configs writing one storage location ------------------------------------
_SHARED = {
    "metadata_backup": (
        "kind: metadata_backup\nbucket: b-backups\nprefix: metadata-backup\n",
        "kind: metadata_backup\nbucket: b-backups\nprefix: metadata-backup/\n",
        "bucket/prefix",
    ),
    "db_cleanup": (
        "kind: db_cleanup\narchive_bucket: b-archive\narchive_prefix: db-cleanup\n",
        "kind: db_cleanup\narchive_bucket: b-archive\narchive_prefix: db-cleanup\n",
        "archive_bucket/archive_prefix",
    ),
    "log_cleanup": (
        "kind: log_cleanup\narchive: {bucket: b-logs, prefix: logs}\n",
        "kind: log_cleanup\narchive: {bucket: b-logs, prefix: logs}\n",
        "archive.bucket/archive.prefix",
    ),
    "config_export_nested": (
        "kind: config_export\nbucket: b-exports\nprefix: exports\n",
        # writes under exports/a/x/, inside the first DAG's exports/a/
        "kind: config_export\nbucket: b-exports\nprefix: exports/a\n",
        "bucket/prefix",
    ),
    "cross_kind_nested": (
        "kind: metadata_backup\nbucket: shared\nprefix: ops\n",
        "kind: log_cleanup\narchive: {bucket: shared, prefix: ops/logs}\n",
        "archive.bucket/archive.prefix",
    ),
}


@pytest.mark.parametrize("case", sorted(_SHARED))
def test_two_configs_writing_one_location_are_refused(tmp_path: Path, case: str) -> None:
    first, second, fields = _SHARED[case]
    cfg_dir = tmp_path / "config"
    cfg_dir.mkdir()
    (cfg_dir / "a.yml").write_text(first + "dag_id: a\n")
    (cfg_dir / "x.yml").write_text(second + "dag_id: x\n")
    proc = _generate(cfg_dir, tmp_path / "dags")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "a.yml" in lines[0] and "x.yml" in lines[0]
    assert fields in lines[0] and "own bucket or a prefix" in lines[0]
    assert not (tmp_path / "dags").exists(), "nothing may be written"


def test_separate_locations_and_export_dags_sharing_a_prefix_are_accepted(tmp_path: Path) -> None:
    cfg_dir = tmp_path / "config"
    shutil.copytree(REPO / "config", cfg_dir)
    # The export kind appends the dag_id, so a copied export config may keep bucket and prefix.
    text = (cfg_dir / "ops_config_export.yml").read_text().replace("ops_config_export", "ops_export_eu")
    (cfg_dir / "ops_export_eu.yml").write_text(text)
    # "metadata-backup-eu" is a sibling of "metadata-backup", not inside it.
    (cfg_dir / "ops_metadata_backup_eu.yml").write_text(
        "kind: metadata_backup\ndag_id: ops_metadata_backup_eu\nprefix: metadata-backup-eu\n"
    )
    proc = _generate(cfg_dir, tmp_path / "dags")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("deadline", "field", "reason"),
    [
        ("{minutes: 0}", "deadline.minutes", "greater than 0"),
        ("{minutes: soon}", "deadline.minutes", "valid number"),
        ("{minutes: 90, after: started}", "deadline.after", "'queued_at' or 'logical_date'"),
        ("{minutes: 90, within: 3}", "deadline.within", "unknown key"),
        ("{after: queued_at}", "deadline.minutes", "Field required"),
    ],
)
def test_a_misconfigured_deadline_is_one_line_naming_file_and_field(
    tmp_path: Path, deadline: str, field: str, reason: str
) -> None:
    cfg_dir = tmp_path / "config"
    cfg_dir.mkdir()
    text = (REPO / "config" / "ops_metadata_backup.yml").read_text()
    text = text.replace("deadline:\n  minutes: 90\n", f"deadline: {deadline}\n")
    assert f"deadline: {deadline}" in text
    (cfg_dir / "ops_metadata_backup.yml").write_text(text)
    proc = _generate(cfg_dir, tmp_path / "dags")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {cfg_dir / 'ops_metadata_backup.yml'}: {field}: "), line
    assert reason in line and "Traceback" not in proc.stderr
    assert not (tmp_path / "dags").exists()


def test_a_deadline_needs_an_alert_channel_and_a_logical_date() -> None:
    from airflow_ops.exceptions import ConfigError

    base = {"kind": "db_cleanup", "dag_id": "ops_db_cleanup"}
    with pytest.raises(ConfigError, match=r"deadline: .*set alerts.email and/or alerts.webhook"):
        parse({**base, "deadline": {"minutes": 30}})
    with pytest.raises(ConfigError, match=r"deadline: .*never fires on schedule 'backup_asset'.*queued_at"):
        parse({**base, "alerts": {"webhook": {}}, "deadline": {"minutes": 30, "after": "logical_date"}})
    ok = parse({**base, "alerts": {"webhook": {}}, "deadline": {"minutes": 30}})
    assert ok.deadline is not None and ok.deadline.after == "queued_at"


def test_a_deadline_renders_into_the_dag_and_its_doc() -> None:
    cfg = parse(
        {
            "kind": "log_cleanup",
            "dag_id": "ops_log_cleanup",
            "alerts": {"webhook": {"conn_id": "hook"}},
            "deadline": {"minutes": 45, "after": "logical_date"},
        }
    )
    text = render_dag_file(cfg, "config/ops_log_cleanup.yml")
    assert "'deadline': {'minutes': 45.0, 'after': 'logical_date'}" in text
    assert "**Deadline.** A run must succeed within 45 min of its logical date" in text
    assert "webhook `hook`" in text
