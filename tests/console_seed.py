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


def clone_runs(
    cur: Any,
    dag_id: str,
    template_run_id: str,
    prefix: str,
    start: dt.datetime,
    step: dt.timedelta,
    count: int,
) -> None:
    """``count`` copies of a finished run, its report task's instance and its report XCom, in SQL (a
    year of 5-minute probes in seconds): run ``<prefix><k:06d>`` at ``start + k * step``, ended a
    minute later. The report is stored as a JSON object, the way a task pushes it (the REST API
    stores a JSON string)."""
    cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'dag_run' AND column_name"
        " NOT IN ('id', 'run_id', 'run_after', 'logical_date', 'queued_at', 'start_date', 'end_date')"
    )
    keep = [c for (c,) in cur.fetchall()]
    args = {"dag": dag_id, "tpl": template_run_id, "prefix": prefix, "start": start, "step": step, "n": count}
    cur.execute(
        "INSERT INTO dag_run (run_id, run_after, logical_date, queued_at, start_date, end_date, "
        f"{', '.join(keep)}) SELECT %(prefix)s || lpad(k::text, 6, '0'), w.t, w.t, w.t, w.t,"
        f" w.t + interval '1 minute', {', '.join('d.' + c for c in keep)}"
        " FROM dag_run d CROSS JOIN generate_series(0, %(n)s - 1) k"
        " CROSS JOIN LATERAL (SELECT %(start)s + k * %(step)s AS t) w"
        " WHERE d.dag_id = %(dag)s AND d.run_id = %(tpl)s",
        args,
    )
    cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'task_instance'"
        " AND column_name NOT IN ('id', 'run_id')"
    )
    ti_keep = [c for (c,) in cur.fetchall()]
    cur.execute(  # the report task's instance: the XCom's foreign key
        f"INSERT INTO task_instance (id, run_id, {', '.join(ti_keep)})"
        f" SELECT gen_random_uuid(), n.run_id, {', '.join('ti.' + c for c in ti_keep)}"
        " FROM dag_run t JOIN xcom x ON x.dag_run_id = t.id AND x.key = 'report'"
        " JOIN task_instance ti ON ti.dag_id = t.dag_id AND ti.run_id = t.run_id AND ti.task_id = x.task_id"
        " AND ti.map_index = x.map_index"
        " JOIN dag_run n ON n.dag_id = t.dag_id AND starts_with(n.run_id, %(prefix)s)"
        " WHERE t.dag_id = %(dag)s AND t.run_id = %(tpl)s",
        args,
    )
    cur.execute(
        "INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp)"
        " SELECT n.id, x.task_id, x.map_index, x.key, x.dag_id, n.run_id, CASE jsonb_typeof(x.value)"
        " WHEN 'string' THEN (x.value #>> '{}')::jsonb ELSE x.value END, x.timestamp"
        " FROM dag_run t JOIN xcom x ON x.dag_run_id = t.id AND x.key = 'report'"
        " JOIN dag_run n ON n.dag_id = t.dag_id AND starts_with(n.run_id, %(prefix)s)"
        " WHERE t.dag_id = %(dag)s AND t.run_id = %(tpl)s",
        args,
    )


def drop_clones(cur: Any, dag_id: str, prefix: str) -> None:
    cur.execute("DELETE FROM xcom WHERE dag_id = %s AND starts_with(run_id, %s)", (dag_id, prefix))
    cur.execute("DELETE FROM task_instance WHERE dag_id = %s AND starts_with(run_id, %s)", (dag_id, prefix))
    cur.execute("DELETE FROM dag_run WHERE dag_id = %s AND starts_with(run_id, %s)", (dag_id, prefix))
