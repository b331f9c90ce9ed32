"""Every kind's report function returns a report that matches the fixed schema and its METRICS."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from airflow_ops.backup.manifest import BackupManifest
from airflow_ops.logcleanup.sweep import RootStats
from airflow_ops.registry import KINDS, parse
from airflow_ops.report import RunReport, check_metrics
from tests.runs import make_run

MANIFEST = BackupManifest(
    dag_id="ops_metadata_backup",
    logical_date="2026-11-23T00:00:00+00:00",
    bucket="b",
    key="p/2026-11-23T000000Z/metadata.dump",
    size_bytes=12_300_000,
    sha256="0" * 64,
    db_size_bytes=50_000_000,
    server_version="16.4",
    pg_dump_version="16.4",
    airflow_version="3.3.2",
    alembic_revision="x",
    table_row_counts={"dag_run": 10, "log": 100},
    started_at="2026-11-23T00:00:01+00:00",
    finished_at="2026-11-23T00:00:10+00:00",
    duration_seconds=9.0,
)


def _backup(cfg: Any) -> RunReport:
    from airflow_ops.kinds.metadata_backup import tasks

    backup = {
        "manifest": dataclasses.asdict(MANIFEST),
        "fernet": {"stored": False, "location": "", "fingerprint": "abc", "warning": "not backed up (x)"},
    }
    verified = {"toc_entries": 120, "full_restore": "not due"}
    retention = {
        "expired": ["p/2026-01-01T000000Z"],
        "kept": ["a", "b"],
        "bytes_freed": 1000,
        "dry_run": False,
    }
    return tasks.report(cfg, make_run(), backup, verified, retention)


def _log(cfg: Any) -> RunReport:
    from airflow_ops.kinds.log_cleanup import tasks

    root = RootStats("task-logs", "/var/log/airflow", dry_run=True, files_deleted=3, bytes_deleted=300)
    sweep = {
        "queue": "default",
        "host": "w1",
        "retention_days": 30,
        "dry_run": True,
        "roots": [root.to_dict()],
        "free_bytes": 10**9,
        "duration_s": 0.5,
    }
    return tasks.report(cfg, make_run("log_cleanup"), [sweep, None])


def _db(cfg: Any) -> RunReport:
    from airflow_ops.kinds.db_cleanup import tasks

    gate = {"reason": "verified backup 2 h old", "age_hours": 2.0, "warnings": []}
    table = {"table": "log", "retention_days": 30, "rows_before": 10, "rows_after": 4, "rows_purged": 6}
    cleaned = {"dry_run": False, "tables": [table], "invocations": [{}, {}], "seconds": 1.5}
    archived = {"archive_tables": 1, "dropped": True, "bucket": "a", "prefix": "p"}
    return tasks.report(cfg, make_run("db_cleanup"), gate, cleaned, archived)


def _health(cfg: Any) -> RunReport:
    from airflow_ops.kinds.health_probe import tasks

    results = [
        {"name": "scheduler", "value": 3, "threshold": "60/180 s", "verdict": "ok", "detail": ""},
        {
            "name": "log_volume_free_pct",
            "value": 15.0,
            "threshold": "20/10 %",
            "verdict": "warning",
            "detail": "low",
        },
        {"name": "metadata_db_size_gb", "value": 0.5, "threshold": "20/50", "verdict": "ok", "detail": ""},
    ]
    return tasks.report(cfg, make_run("health_probe"), results)


BUILDERS = {"metadata_backup": _backup, "log_cleanup": _log, "db_cleanup": _db, "health_probe": _health}


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_report_matches_its_kinds_metrics(kind: str) -> None:
    cfg = parse({"kind": kind, "dag_id": f"ops_{kind}"})
    report = BUILDERS[kind](cfg)
    assert check_metrics(report, KINDS[kind].metrics) == []
    assert report.kind == kind and report.headline
    assert RunReport.from_dict(report.to_dict()) == report


def test_every_kind_has_a_report_test() -> None:
    assert set(BUILDERS) | {"config_export"} == set(KINDS)  # config_export: tests/unit/test_export_report.py


def test_backup_warning_leads_the_first_line() -> None:
    rep = _backup(parse({"kind": "metadata_backup", "dag_id": "ops_metadata_backup"}))
    assert rep.first_line().startswith("Metadata DB backup: OK, 1 warning: fernet key not backed up")
    assert "backup 12.3 MB verified" in rep.first_line()


def test_log_cleanup_dry_run_reports_under_the_same_keys() -> None:
    rep = _log(parse({"kind": "log_cleanup", "dag_id": "ops_log_cleanup"}))
    assert rep.mode == "dry_run"
    assert rep.metrics["files_deleted"] == 3 and rep.metrics["bytes_freed"] == 300
    assert rep.details["retention_days"] == 30


def test_health_report_fails_on_critical_only_by_default() -> None:
    rep = _health(parse({"kind": "health_probe", "dag_id": "ops_health_probe"}))
    assert rep.ok and rep.metrics["warning"] == 1 and rep.metrics["metadata_db_size_bytes"] == 500_000_000


def test_backup_report_lists_pins_and_the_fernet_key_it_needs() -> None:
    from airflow_ops.kinds.metadata_backup import tasks

    cfg = parse({"kind": "metadata_backup", "dag_id": "ops_metadata_backup"})
    manifest = dataclasses.replace(MANIFEST, fernet_fingerprint="sha256:0123456789abcdef")
    backup = {
        "manifest": dataclasses.asdict(manifest),
        "fernet": {"stored": False, "location": "", "fingerprint": "abc", "warning": "not backed up (x)"},
    }
    pin = {"folder": "p/2026-01-01T000000Z", "reason": "pre-upgrade", "pinned_by": "ops", "pinned_at": "t"}
    retention = {"expired": [], "kept": ["a"], "bytes_freed": 0, "dry_run": False, "pinned": [pin]}
    rep = tasks.report(cfg, make_run(), backup, {"toc_entries": 1, "full_restore": "not due"}, retention)
    assert rep.details["pinned"] == "2026-01-01T000000Z (pre-upgrade, by ops t)"
    assert rep.details["retention"].endswith("kept 1, 1 pinned")
    assert rep.details["fernet key needed"] == "sha256:0123456789abcdef"
    assert check_metrics(rep, KINDS["metadata_backup"].metrics) == []
