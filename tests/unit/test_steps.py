"""The kind's row travels down: DAG file -> factory -> ``build(spec, dag_kwargs, kind)`` -> each step,
which takes its title, metrics and schema from it and publishes the report itself."""

from __future__ import annotations

import datetime as dt
import runpy
from pathlib import Path
from typing import Any

import pytest

from airflow_ops import steps
from airflow_ops.factory import build_dag
from airflow_ops.kinds.health_probe.kind import KIND as HEALTH_PROBE
from airflow_ops.kinds.log_cleanup.kind import KIND as LOG_CLEANUP
from airflow_ops.report import REPORT_KEY, RunReport

REPO = Path(__file__).parents[2]


def _dag() -> Any:
    return runpy.run_path(str(REPO / "dags" / "ops_log_cleanup.py"))["dag"]


def test_every_step_holds_the_row_its_dag_file_imported() -> None:
    dag = _dag()
    assert {t.task_id: t.kind for t in dag.tasks} == dict.fromkeys(dag.task_dict, LOG_CLEANUP)


def test_the_factory_refuses_a_row_of_another_kind_or_none() -> None:
    spec = dict(_dag().task_dict["report"].spec)
    with pytest.raises(ValueError, match="does not match the row"):
        build_dag(None, spec, "dags/x.py", kind=HEALTH_PROBE)
    with pytest.raises(ValueError, match=r"older release.*make generate"):
        build_dag(None, spec, "dags/x.py")


class _TI:
    def __init__(self, errors: dict[str, dict[str, str]]) -> None:
        self.errors = errors
        self.pushed: dict[str, Any] = {}

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        return self.errors.get(task_ids) if key == "error" else None

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def test_a_failed_upstream_is_reported_with_the_rows_title_and_metrics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    notes: list[tuple[RunReport, str]] = []
    monkeypatch.setattr(steps, "_set_note", lambda rep, conn_id: notes.append((rep, conn_id)))
    dag = _dag()
    report = dag.task_dict["report"]
    [sweep] = [t for t in dag.task_ids if t.startswith("sweep_")]
    ti = _TI({sweep: {"step": "Sweep logs (default)", "reason": "disk on fire"}})
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

    class DagRun:
        dag_id = dag.dag_id
        run_id = "manual__1"
        conf: dict[str, Any] = {}
        run_after = start_date = now
        logical_date = None

    with pytest.raises(Exception, match="Sweep logs \\(default\\) failed: disk on fire"):
        report.execute({"dag_run": DagRun(), "ti": ti, "params": {}})
    payload = RunReport.from_dict(ti.pushed[REPORT_KEY])
    assert payload is not None and payload.title == LOG_CLEANUP.title and not payload.ok
    assert list(payload.metrics) == [m.name for m in LOG_CLEANUP.metrics]
    assert payload.failure is not None and payload.failure.not_done == ["Sweep logs (default)"]
    assert [conn for _, conn in notes] == [report.spec["note_conn_id"]]
