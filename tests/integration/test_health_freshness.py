"""Freshness and stuck work in ops_health_probe under the real scheduler, and in the external probe.

The maintenance DAGs, the backup pointer and the runs are real; the "stuck in queued" rows are
written into Airflow's own ``log`` table exactly as the scheduler writes them (reproducing a task
stuck in queued needs an executor that loses tasks, which LocalExecutor does not).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import pytest

from tests.harness import AirflowStack

pytestmark = [pytest.mark.integration, pytest.mark.airflow]
REPO = Path(__file__).parents[2]
PROBE = "ops_health_probe"
SEEDED_TASK = "seeded_stuck_in_queued"


def _probe_rows(airflow: AirflowStack, conf: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    run = airflow.run_dag(PROBE, conf=conf)
    report = airflow.xcom(PROBE, run.run_id, "probe", key="report")
    assert report, run.log_text()[-3000:]
    return run, report


def _rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in report["rows"]}


@pytest.fixture(scope="module")
def backed_up(airflow: AirflowStack) -> None:
    run = airflow.run_dag("ops_metadata_backup", timeout=300)
    assert run.state == "success", run.log_text()[-3000:]


def test_after_a_verified_backup_the_backup_and_dags_are_fresh(
    airflow: AirflowStack, backed_up: None
) -> None:
    run, report = _probe_rows(airflow)
    assert run.state == "success", report["rows"]
    rows = _rows(report)
    backup = rows["backup_age_hours"]
    assert backup["verdict"] == "ok" and 0 <= backup["value"] < 0.25, backup
    assert backup["threshold"] == "<= 26h warn, 50h crit"
    fresh = rows["dag_freshness:ops_metadata_backup"]
    assert fresh["verdict"] == "ok" and fresh["value"] < 0.25, fresh
    assert fresh["threshold"] == "last success <= 48h warn, 96h crit (24h interval)"
    # ops_db_cleanup runs on the backup Asset: its interval comes from expected_interval_hours
    assert rows["dag_freshness:ops_db_cleanup"]["threshold"].endswith("(24h interval)")
    assert report["metrics"]["backup_age_hours"] == backup["value"]
    assert report["metrics"]["stale_dags"] == 0
    assert report["metrics"]["stuck_in_queued_events"] == 0


def test_a_paused_dag_and_an_old_backup_are_named(airflow: AirflowStack, backed_up: None) -> None:
    api = airflow.api()
    api.request("PATCH", "/api/v2/dags/ops_config_export", json={"is_paused": True})
    try:
        run, report = _probe_rows(
            airflow,
            conf={"thresholds": {"backup_age_warning_hours": 0.0001, "freshness_warning_intervals": 0.00001}},
        )
    finally:
        api.request("PATCH", "/api/v2/dags/ops_config_export", json={"is_paused": False})
    assert run.state == "success", "warnings only: fail_on is critical"
    rows = _rows(report)
    warnings = "\n".join(report["warnings"])  # the rows carry no detail: the warnings do
    assert rows["dag_freshness:ops_config_export"]["verdict"] == "warning"
    assert "dag_freshness:ops_config_export: ops_config_export is paused" in warnings
    assert rows["backup_age_hours"]["verdict"] == "warning"
    assert "backup_age_hours: latest verified backup metadata-backup/" in warnings
    assert rows["dag_freshness:ops_metadata_backup"]["verdict"] == "warning"
    assert "ops_metadata_backup: last success" in warnings
    assert report["metrics"]["stale_dags"] >= 2
    assert run.note and "ops_config_export is paused" in run.note


@pytest.fixture
def stuck_events(airflow: AirflowStack) -> Iterator[None]:
    """Two 'stuck in queued' events of the last minutes and one from 2 hours ago (outside the window)."""
    url = urlsplit(airflow.sql_alchemy_conn.replace("+psycopg2", "")).geturl()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        rows = [
            ("5 minutes", "stuck in queued reschedule", "Task was in queued state for longer than 600.0 s."),
            ("1 minute", "stuck in queued tries exceeded", "Task was requeued more than 2 times."),
            ("2 hours", "stuck in queued reschedule", "outside the window"),
        ]
        for ago, event, extra in rows:
            cur.execute(
                "INSERT INTO log (dttm, dag_id, task_id, map_index, event, run_id, owner, extra, try_number)"
                " VALUES (now() - %s::interval, 'ops_log_cleanup', %s, -1, %s, 'manual__seeded', 'airflow',"
                " %s, 1)",
                (ago, SEEDED_TASK, event, extra),
            )
    try:
        yield
    finally:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM log WHERE task_id = %s", (SEEDED_TASK,))
        conn.close()


def test_stuck_in_queued_events_of_the_last_hour_are_reported(
    airflow: AirflowStack, stuck_events: None
) -> None:
    _, report = _probe_rows(airflow)
    stuck = _rows(report)["stuck_in_queued_events"]
    assert stuck["value"] == 2 and stuck["verdict"] == "warning", stuck
    assert any(f"ops_log_cleanup.{SEEDED_TASK}" in w for w in report["warnings"]), report["warnings"]
    assert report["metrics"]["stuck_in_queued_events"] == 2
    critical, _ = _probe_rows(airflow, conf={"thresholds": {"stuck_in_queued_critical": 2}})
    assert critical.state == "failed" and "stuck_in_queued_events" in (critical.note or "")


def test_external_probe_runs_the_same_freshness_checks(
    airflow: AirflowStack, backed_up: None, stuck_events: None
) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "health_probe.py"), "--url", airflow.base_url, "--json"],
        env={
            "PATH": "/usr/bin:/bin",
            "AIRFLOW_OPS_PROBE_USERNAME": "admin",
            "AIRFLOW_OPS_PROBE_PASSWORD": airflow.password,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["stuck_in_queued_events"]["value"] == 2
    assert checks["stuck_in_queued_events"]["verdict"] == "warning"
    assert proc.returncode == 1, proc.stdout
    # from outside, the probe DAG itself is checked too
    assert checks[f"dag_freshness:{PROBE}"]["verdict"] == "ok", checks[f"dag_freshness:{PROBE}"]
    assert checks["dag_freshness:ops_metadata_backup"]["verdict"] == "ok"
