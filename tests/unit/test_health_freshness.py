"""Freshness checks of the health probe: maintenance DAGs, backup age, 'stuck in queued' events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_ops.exceptions import ConfigError
from airflow_ops.health import (
    STUCK_IN_QUEUED_EVENTS,
    Verdict,
    check_backup_age,
    check_dag_freshness,
    check_stuck_in_queued,
    run_freshness_checks,
    schedule_interval_hours,
)
from airflow_ops.kinds.health_probe.schema import HealthThresholds
from airflow_ops.registry import parse

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
T = HealthThresholds()


def _ago(hours: float) -> str:
    return (NOW - dt.timedelta(hours=hours)).isoformat()


@pytest.mark.parametrize(
    ("summary", "hours"),
    [("@daily", 24.0), ("*/5 * * * *", 5 / 60), ("0 2 * * 1-5", 72.0), ("Asset", None), (None, None)],
)
def test_interval_comes_from_the_cron_schedule(summary: str | None, hours: float | None) -> None:
    got = schedule_interval_hours(summary, NOW)
    assert got == (pytest.approx(hours) if hours is not None else None)


@pytest.mark.parametrize(
    ("last_success_h", "verdict"), [(10, Verdict.OK), (50, Verdict.WARNING), (100, Verdict.CRITICAL)]
)
def test_last_success_is_graded_in_schedule_intervals(last_success_h: float, verdict: Verdict) -> None:
    dag = {"dag_id": "ops_log_cleanup", "is_paused": False, "timetable_summary": "@daily"}
    res = check_dag_freshness(dag, {"end_date": _ago(last_success_h)}, None, 24.0, T, NOW)
    assert res.name == "dag_freshness:ops_log_cleanup"
    assert res.verdict == verdict and res.value == last_success_h
    assert res.threshold == "last success <= 48h warn, 96h crit (24h interval)"
    assert ("last success 50.00h ago" in res.detail) == (last_success_h == 50)


def test_a_paused_dag_gets_the_configured_verdict() -> None:
    dag = {"dag_id": "ops_db_cleanup", "is_paused": True}
    assert check_dag_freshness(dag, None, None, 24.0, T, NOW).verdict == Verdict.WARNING
    strict = HealthThresholds(paused_dag_verdict="critical")
    res = check_dag_freshness(dag, None, None, 24.0, strict, NOW)
    assert res.verdict == Verdict.CRITICAL and "paused" in res.detail


def test_never_succeeded_is_judged_from_the_first_run_and_a_new_dag_is_fine() -> None:
    dag = {"dag_id": "d", "is_paused": False}
    assert check_dag_freshness(dag, None, None, 24.0, T, NOW).verdict == Verdict.OK
    res = check_dag_freshness(dag, None, {"run_after": _ago(60)}, 24.0, T, NOW)
    assert res.verdict == Verdict.WARNING and "no successful run, first run 60.00h ago" in res.detail
    assert res.value is None


def test_a_dag_without_interval_is_not_graded_but_says_how_to_check_it() -> None:
    res = check_dag_freshness({"dag_id": "d", "timetable_summary": "Asset"}, None, None, None, T, NOW)
    assert res.verdict == Verdict.OK and "expected_interval_hours" in res.detail


@pytest.mark.parametrize(
    ("age", "readable", "verdict"),
    [
        (1.0, True, Verdict.OK),
        (30.0, True, Verdict.WARNING),
        (60.0, True, Verdict.CRITICAL),
        (None, True, Verdict.WARNING),
        (None, False, Verdict.CRITICAL),
    ],
)
def test_backup_age(age: float | None, readable: bool, verdict: Verdict) -> None:
    res = check_backup_age(age, "no verified backup pointer at s3://b/p/latest-verified.json", readable, T)
    assert res.name == "backup_age_hours" and res.verdict == verdict
    if age is None:
        assert "run ops_metadata_backup" in res.detail


def test_stuck_in_queued_events_are_counted_and_named() -> None:
    events = [{"dag_id": "a", "task_id": "t"}] * 2 + [{"dag_id": "b", "task_id": "u"}]
    res = check_stuck_in_queued(events, T)
    assert res.value == 3 and res.verdict == Verdict.WARNING
    assert "a.t, b.u" in res.detail and "task_queued_timeout" in res.detail
    assert check_stuck_in_queued([], T).verdict == Verdict.OK
    assert check_stuck_in_queued(events * 2, T).verdict == Verdict.CRITICAL


class _FakeApi:
    """The REST calls the freshness checks make (unit tests of pure logic may use fakes)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def dags(self, tag: str) -> list[dict[str, Any]]:
        self.calls.append(("dags", tag))
        return [
            {"dag_id": "ops_health_probe", "is_paused": False, "timetable_summary": "*/5 * * * *"},
            {"dag_id": "ops_metadata_backup", "is_paused": False, "timetable_summary": "@daily"},
            {"dag_id": "ops_db_cleanup", "is_paused": False, "timetable_summary": "Asset"},
        ]

    def dag_runs(self, dag_id: str, *, state: str | None = None, order_by: str = "", limit: int = 1) -> Any:
        self.calls.append(("runs", (dag_id, state, order_by)))
        if dag_id == "ops_metadata_backup" and state == "success":
            return [{"end_date": _ago(30)}]
        return []

    def event_logs(self, events: list[str], after: str) -> list[dict[str, Any]]:
        self.calls.append(("events", (tuple(events), after)))
        return [{"dag_id": "x", "task_id": "y", "event": events[0]}]


def test_freshness_checks_over_the_api() -> None:
    api = _FakeApi()
    results = run_freshness_checks(
        api, "maintenance", T, exclude=["ops_health_probe"], intervals={"ops_db_cleanup": 12}, now=NOW
    )
    by_name = {r.name: r for r in results}
    assert set(by_name) == {
        "dag_freshness:ops_db_cleanup",
        "dag_freshness:ops_metadata_backup",
        "stuck_in_queued_events",
    }
    assert by_name["dag_freshness:ops_metadata_backup"].verdict == Verdict.OK
    assert by_name["dag_freshness:ops_db_cleanup"].threshold.endswith("(12h interval)")
    assert by_name["stuck_in_queued_events"].value == 1
    assert ("events", (tuple(STUCK_IN_QUEUED_EVENTS), _ago(1))) in api.calls
    assert ("runs", ("ops_metadata_backup", "success", "-end_date")) in api.calls


def test_a_failing_api_call_is_a_critical_row_not_a_crash() -> None:
    class Broken(_FakeApi):
        def event_logs(self, events: list[str], after: str) -> list[dict[str, Any]]:
            raise RuntimeError("403 Forbidden")

    res = run_freshness_checks(Broken(), None, T, now=NOW)
    assert [(r.name, r.verdict) for r in res] == [("stuck_in_queued_events", Verdict.CRITICAL)]


@pytest.mark.parametrize(
    ("thresholds", "field"),
    [
        ({"backup_age_warning_hours": 60, "backup_age_critical_hours": 50}, "backup_age_warning_hours"),
        ({"freshness_warning_intervals": 5}, "freshness_warning_intervals"),
        ({"stuck_in_queued_warning": 9}, "stuck_in_queued_warning"),
        ({"paused_dag_verdict": "loud"}, "paused_dag_verdict"),
    ],
)
def test_a_misconfigured_threshold_names_the_file_and_field(thresholds: dict[str, Any], field: str) -> None:
    spec = {"kind": "health_probe", "dag_id": "x", "thresholds": thresholds}
    with pytest.raises(ConfigError) as info:
        parse(spec, "config/ops_health_probe.yml")
    assert "config/ops_health_probe.yml" in str(info.value) and field in str(info.value)


def test_expected_intervals_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="expected_interval_hours"):
        parse({"kind": "health_probe", "dag_id": "x", "expected_interval_hours": {"d": 0}}, "f.yml")
