"""Maintenance-page history seeded through Airflow's REST API: a DAG run per point, its ``report``
XCom, then its final state. Used by tests/integration/test_aa_console.py and bench/console.py.

The DAG must be paused while its runs are seeded, or the scheduler would run them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from tests.harness import AirflowStack

BACKUP, EXPORT, LOGS, DBCLEAN, HEALTH = (
    "ops_metadata_backup",
    "ops_config_export",
    "ops_log_cleanup",
    "ops_db_cleanup",
    "ops_health_probe",
)
REPORT_TASK = {BACKUP: "report", EXPORT: "report", LOGS: "report", DBCLEAN: "report", HEALTH: "probe"}
KIND = {
    BACKUP: "metadata_backup",
    EXPORT: "config_export",
    LOGS: "log_cleanup",
    DBCLEAN: "db_cleanup",
    HEALTH: "health_probe",
}


def make_report(
    dag_id: str, run_id: str, when: dt.datetime, ok: bool = True, **metrics: Any
) -> dict[str, Any]:
    failure = None if ok else {"step": "upload", "reason": "seeded failure", "done": [], "not_done": []}
    return {
        "schema_version": 1,
        "kind": KIND[dag_id],
        "dag_id": dag_id,
        "run_id": run_id,
        "title": KIND[dag_id],
        "mode": "apply",
        "ok": ok,
        "started_at": when.isoformat(),
        "ended_at": (when + dt.timedelta(seconds=30)).isoformat(),
        "duration_s": 30.0,
        "headline": f"seeded {KIND[dag_id]}",
        "metrics": metrics,
        "warnings": [],
        "details": {},
        "rows": [],
        "failure": failure,
    }


def seed_run(
    airflow: AirflowStack,
    dag_id: str,
    when: dt.datetime,
    state: str = "success",
    report: dict[str, Any] | str | None = "auto",
    api: Any = None,
    **metrics: Any,
) -> str:
    """One finished DAG run at ``when`` with its report XCom (``None``: no XCom), via REST only."""
    api = api or airflow.api()
    run_id = f"seeded__{when:%Y%m%dT%H%M}_{uuid.uuid4().hex[:6]}"
    api.request(
        "POST",
        f"/api/v2/dags/{dag_id}/dagRuns",
        json={"dag_run_id": run_id, "logical_date": when.isoformat(), "run_after": when.isoformat()},
    )
    if report == "auto":
        report = make_report(dag_id, run_id, when, ok=state == "success", **metrics)
    if report is not None:
        api.request(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{REPORT_TASK[dag_id]}/xcomEntries",
            json={"key": "report", "value": report},
        )
    api.request("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", json={"state": state})
    return run_id


def set_paused(airflow: AirflowStack, dag_id: str, paused: bool) -> None:
    airflow.api().request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": paused})
