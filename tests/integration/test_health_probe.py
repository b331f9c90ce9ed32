"""ops_health_probe under a real scheduler, and the external probe against the real api-server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.harness import AirflowStack, free_port, wait_for

REPO = Path(__file__).parents[2]
DAG_ID = "ops_health_probe"
FAST = {"heartbeat_warning_seconds": 8, "heartbeat_critical_seconds": 12}


def _probe(
    stack: AirflowStack | None, *args: str, url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin"}
    if stack is not None:
        env |= {"AIRFLOW_OPS_PROBE_USERNAME": "admin", "AIRFLOW_OPS_PROBE_PASSWORD": stack.password}
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "health_probe.py"), "--url", url or stack.base_url, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_all_components_up_run_succeeds_with_full_report(airflow: AirflowStack) -> None:
    run = airflow.run_dag(DAG_ID)
    assert run.state == "success", run.log_text()[-3000:]
    report: dict[str, Any] = airflow.xcom(DAG_ID, run.run_id, "probe", key="report")
    names = {row["name"] for row in report["rows"]}
    assert {
        "metadatabase",
        "scheduler_heartbeat_age_s",
        "triggerer_heartbeat_age_s",
        "dag_processor_heartbeat_age_s",
        "import_errors",
        "stuck_task_instances",
        "log_volume_free_pct",
        "metadata_db_size_gb",
        "dag_freshness:ops_metadata_backup",
        "dag_freshness:ops_log_cleanup",
        "stuck_in_queued_events",
        "backup_age_hours",
    } <= names
    assert "dag_freshness:ops_health_probe" not in names, "the DAG cannot judge its own freshness"
    # Only the backup age depends on what ran before (no backup yet in this session: a warning).
    rows = {row["name"]: row for row in report["rows"]}
    backup = rows.pop("backup_age_hours")
    assert backup["verdict"] == "ok" or "no verified backup pointer" in backup["detail"], backup
    assert all(row["verdict"] == "ok" for row in rows.values()), report["rows"]
    assert all(row["threshold"] for row in report["rows"])
    assert run.note and "Health probe: OK" in run.note, (
        "the summary must be visible in the UI as the run note"
    )
    assert "Run report" in run.log_text("probe")


@pytest.mark.parametrize(
    ("component", "check"), [("triggerer", "triggerer"), ("dag-processor", "dag_processor")]
)
def test_stopped_component_fails_the_probe_naming_it(
    airflow: AirflowStack, component: str, check: str
) -> None:
    airflow.stop_component(component)
    try:
        time.sleep(FAST["heartbeat_critical_seconds"] + 3)
        run = airflow.run_dag(DAG_ID, conf={"thresholds": FAST})
        assert run.state == "failed"
        assert run.task_states["probe"] == "failed"
        assert f"{check}_heartbeat_age_s" in run.log_text("probe")
        assert f"unhealthy: {check}" in run.note
        external = _probe(
            airflow, "--json", "--heartbeat-warning-seconds", "8", "--heartbeat-critical-seconds", "12"
        )
        assert external.returncode == 2, external.stdout
        verdicts = {c["name"]: c["verdict"] for c in json.loads(external.stdout)["checks"]}
        assert verdicts[f"{check}_heartbeat_age_s"] == "critical"
    finally:
        airflow.start_component(component)
        wait_for(airflow._healthy, 120, f"{component} healthy again", interval=1)


def test_external_probe_ok_when_healthy(airflow: AirflowStack) -> None:
    proc = _probe(airflow, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    body = json.loads(proc.stdout)
    assert body["verdict"] == "ok"
    assert {"import_errors", "stuck_task_instances"} <= {c["name"] for c in body["checks"]}


def test_external_probe_exits_2_when_api_server_unreachable() -> None:
    started = time.monotonic()
    proc = _probe(None, "--timeout", "2", url=f"http://127.0.0.1:{free_port()}")
    assert proc.returncode == 2
    assert "unreachable" in proc.stdout and "api-server" in proc.stdout
    assert time.monotonic() - started < 30


def test_failure_alert_reaches_smtp_and_webhook(
    airflow: AirflowStack, smtp_sink: Any, webhook_sink: Any
) -> None:
    """Impossible disk thresholds make the probe fail; both notifiers must deliver the details."""
    mails_before, hooks_before = len(smtp_sink.messages), len(webhook_sink.requests)
    run = airflow.run_dag(
        DAG_ID,
        conf={"thresholds": {"log_volume_free_warning_pct": 99.99, "log_volume_free_critical_pct": 99.98}},
    )
    assert run.state == "failed"
    wait_for(
        lambda: len(smtp_sink.messages) > mails_before and len(webhook_sink.requests) > hooks_before,
        60,
        "failure alerts",
    )
    hook = webhook_sink.requests[-1]
    assert hook["path"] == "/alerts"
    payload = hook["json"]
    assert payload["dag_id"] == DAG_ID
    assert payload["run_id"] == run.run_id
    assert payload["task_id"] == "probe"
    assert payload["try_number"] == 1
    assert payload["log_url"].startswith(airflow.base_url)
    assert "log_volume_free_pct" in payload["text"]
    mail = smtp_sink.messages[-1]
    assert mail["to"] == ["ops@example.com"]
    assert DAG_ID in mail["data"] and "probe" in mail["data"]
    assert "try 1" in mail["data"]
