"""Health verdicts come from the health body and thresholds, not the HTTP status."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from airflow_ops.health import (
    Verdict,
    check_components,
    check_db_size,
    check_disk,
    check_import_errors,
    check_stuck_tasks,
    worst,
)
from airflow_ops.kinds.health_probe.schema import HealthThresholds

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
T = HealthThresholds()


def _body(age_s: dict[str, float | None], status: str = "healthy") -> dict[str, object]:
    body: dict[str, object] = {"metadatabase": {"status": "healthy"}}
    for name, age in age_s.items():
        hb = None if age is None else (NOW - dt.timedelta(seconds=age)).isoformat()
        body[name] = {"status": None if age is None else status, f"latest_{name}_heartbeat": hb}
    return body


def test_fresh_heartbeats_are_ok() -> None:
    results = check_components(_body({"scheduler": 3, "triggerer": 4}), ["scheduler", "triggerer"], T, NOW)
    assert [r.verdict for r in results] == [Verdict.OK, Verdict.OK]


def test_stale_heartbeat_is_critical_and_named() -> None:
    [result] = check_components(_body({"triggerer": 600}), ["triggerer"], T, NOW)
    assert result.verdict == Verdict.CRITICAL
    assert result.name == "triggerer_heartbeat_age_s"
    assert result.value == 600
    assert "triggerer" in result.detail


def test_heartbeat_between_thresholds_is_warning() -> None:
    [result] = check_components(_body({"scheduler": 90}), ["scheduler"], T, NOW)
    assert result.verdict == Verdict.WARNING


def test_component_that_never_ran_is_critical() -> None:
    [result] = check_components(_body({"dag_processor": None}), ["dag_processor"], T, NOW)
    assert result.verdict == Verdict.CRITICAL
    assert "never run" in result.detail


def test_unhealthy_metadatabase_is_critical() -> None:
    [result] = check_components({"metadatabase": {"status": "unhealthy"}}, ["metadatabase"], T, NOW)
    assert result.verdict == Verdict.CRITICAL


def test_unhealthy_status_with_fresh_heartbeat_is_warning() -> None:
    [result] = check_components(_body({"scheduler": 5}, status="unhealthy"), ["scheduler"], T, NOW)
    assert result.verdict == Verdict.WARNING


def test_import_errors_grade() -> None:
    assert check_import_errors(0, T).verdict == Verdict.OK
    assert check_import_errors(1, T).verdict == Verdict.WARNING
    assert check_import_errors(10, T).verdict == Verdict.CRITICAL


def test_only_old_queued_or_scheduled_tasks_are_stuck() -> None:
    old = (NOW - dt.timedelta(hours=2)).isoformat()
    new = (NOW - dt.timedelta(minutes=1)).isoformat()
    tis = [
        {"dag_id": "a", "task_id": "t1", "state": "queued", "queued_when": old},
        {"dag_id": "a", "task_id": "t2", "state": "queued", "queued_when": new},
        {"dag_id": "b", "task_id": "t3", "state": "scheduled", "scheduled_when": old},
    ]
    result = check_stuck_tasks(tis, T, NOW)
    assert result.value == 2
    assert "a.t1[queued]" in result.detail and "b.t3[scheduled]" in result.detail
    assert "a.t2" not in result.detail


def test_disk_check_reports_free_percentage(tmp_path: Path) -> None:
    result = check_disk(str(tmp_path), T)
    assert 0 < result.value <= 100
    tight = HealthThresholds(log_volume_free_warning_pct=99.99, log_volume_free_critical_pct=99.98)
    assert check_disk(str(tmp_path), tight).verdict == Verdict.CRITICAL


def test_disk_check_on_missing_path_is_critical(tmp_path: Path) -> None:
    assert check_disk(str(tmp_path / "missing"), T).verdict == Verdict.CRITICAL


def test_db_size_in_gigabytes() -> None:
    assert check_db_size(25 * 1024**3, T).verdict == Verdict.WARNING
    assert check_db_size(1024**3, T).value == 1.0


def test_worst_of_nothing_is_ok() -> None:
    assert worst([]) == Verdict.OK


def test_an_import_error_in_a_maintenance_dag_file_is_critical_whatever_the_count() -> None:
    """Issue 14 item 9: one broken dags/ops_*.py is critical even under the warning threshold."""
    lenient = HealthThresholds(import_errors_warning=5, import_errors_critical=50)
    other = [{"filename": "team/etl_daily.py", "bundle_name": "dags-folder"}]
    assert check_import_errors(1, lenient, other).verdict == Verdict.OK
    ours = [*other, {"filename": "ops_metadata_backup.py", "bundle_name": "dags-folder"}]
    result = check_import_errors(2, lenient, ours)
    assert result.verdict == Verdict.CRITICAL
    assert "ops_metadata_backup.py" in result.detail and "etl_daily" not in result.detail
    assert "any maintenance DAG file (ops_*.py) crit" in result.threshold
    # Absolute paths and custom patterns (a renamed dag_id) work too.
    nested = [{"filename": "/opt/airflow/dags/bundle/nightly_backup.py"}]
    assert check_import_errors(1, lenient, nested, ["nightly_*.py"]).verdict == Verdict.CRITICAL
    assert check_import_errors(1, lenient, nested).verdict == Verdict.OK


def test_import_errors_check_reads_the_listing_from_the_api() -> None:
    from airflow_ops.health import run_api_checks

    class Api:
        def health(self) -> dict[str, Any]:
            return _body({"scheduler": 1})

        def import_errors(self) -> tuple[int, list[dict[str, Any]]]:
            return 1, [{"filename": "ops_log_cleanup.py"}]

        def task_instances(self, states: list[str]) -> list[dict[str, Any]]:
            return []

    results = {r.name: r for r in run_api_checks(Api(), ["scheduler"], T, NOW)}
    assert results["import_errors"].verdict == Verdict.CRITICAL
    assert "ops_log_cleanup.py" in results["import_errors"].detail
