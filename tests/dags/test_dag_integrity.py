"""Every DAG in dags/ imports cleanly and follows the bundle's operating policy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).parents[2]
DAG_FILES = sorted((REPO / "dags").glob("*.py"))


@pytest.fixture(scope="module")
def dagbag() -> Any:
    from airflow_ops.compat import dagbag_class

    return dagbag_class()(dag_folder=str(REPO / "dags"))


def test_dags_folder_is_not_empty() -> None:
    assert DAG_FILES


def test_every_dag_imports_without_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {p.stem for p in DAG_FILES}


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.stem)
def test_dag_policy(dagbag: Any, dag_file: Path) -> None:
    dag = dagbag.dags[dag_file.stem]
    assert dag.owner and dag.owner != "airflow", "owner must name the team"
    assert "maintenance" in dag.tags
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.schedule is not None, "schedule must be explicit"
    assert dag.default_args["retries"] >= 1
    assert dag.default_args["retry_delay"].total_seconds() > 0
    assert dag.dagrun_timeout is not None
    for task in dag.tasks:
        assert task.retries >= 1 or task.task_id in {"report", "verdict", "probe"}, f"{task.task_id}: retries"
        assert task.retry_delay.total_seconds() > 0
        assert task.on_failure_callback, f"{task.task_id}: no failure notifier"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.stem)
def test_doc_md_says_what_params_and_side_effects(dagbag: Any, dag_file: Path) -> None:
    doc = dagbag.dags[dag_file.stem].doc_md
    assert doc and "**What it does.**" in doc
    assert "**Params.**" in doc
    assert "**Side effects.**" in doc


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.stem)
def test_dag_file_is_thin(dag_file: Path) -> None:
    code = dag_file.read_text().split('"""', 2)[2]
    assert "build_dag(" in code
    for forbidden in ("Variable.get", "Connection.get", "requests.", "psycopg2", "boto3", "open("):
        assert forbidden not in code, f"{dag_file.name}: {forbidden} at parse time"


PARSE_OFFLINE = """
import json, sys
from airflow_ops.compat import dagbag_class; DagBag = dagbag_class()
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"dags": sorted(bag.dag_ids), "errors": {k: v for k, v in bag.import_errors.items()}}))
"""


def test_parsing_needs_no_database_and_no_network(tmp_path: Path) -> None:
    """Parse in a fresh network namespace (no interface but a downed loopback) with a dead DB URL."""
    if shutil.which("unshare") is None:
        pytest.fail("util-linux `unshare` is required for this test (apt-get install util-linux)")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://nobody@127.0.0.1:9/nowhere",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "PYTHONPATH": str(REPO / "plugins"),
    }
    # Unprivileged (a contributor's laptop, a rootless CI runner): a user namespace grants the
    # right to make the network namespace.
    unshare = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--net"]
    proc = subprocess.run(
        [*unshare, sys.executable, "-c", PARSE_OFFLINE, str(REPO / "dags")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert result["dags"] == sorted(p.stem for p in DAG_FILES)


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.stem)
def test_every_step_resolves_and_its_upstream_wiring_matches_its_signature(
    dagbag: Any, dag_file: Path
) -> None:
    """Steps are functions and upstream results are operators: check both against each signature."""
    import inspect

    from airflow_ops.steps import MaintenanceStep

    dag = dagbag.dags[dag_file.stem]
    steps = [t for t in dag.tasks if isinstance(t, MaintenanceStep)]
    assert steps and len(steps) == len(dag.tasks)
    assert sum(t.is_report for t in steps) == 1, "exactly one report step per DAG"
    for task in steps:
        assert callable(task.func), task.task_id
        params = list(inspect.signature(task.func).parameters)
        assert params[:2] == ["cfg", "run"], (task.task_id, params)
        assert set(params[2:]) == {name for name, _, _ in task.inputs}, (task.task_id, params)
        for _, ids, _ in task.inputs:
            assert set(ids) <= set(task.upstream_task_ids), (task.task_id, ids)
            assert all(i in dag.task_dict for i in ids)


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.stem)
def test_report_step_runs_whatever_happened_upstream(dagbag: Any, dag_file: Path) -> None:
    dag = dagbag.dags[dag_file.stem]
    [report] = [t for t in dag.tasks if getattr(t, "is_report", False)]
    assert report.trigger_rule in ("all_done", "all_success") and (
        report.trigger_rule == "all_done" or not report.upstream_task_ids
    )
    assert report.retries == 0


SERIALIZE = """
import hashlib, json, sys
from airflow_ops.compat import dagbag_class; DagBag = dagbag_class()
try:  # 3.2+
    from airflow.serialization.serialized_objects import DagSerialization
except ImportError:  # 3.1
    from airflow.serialization.serialized_objects import SerializedDAG as DagSerialization
bag = DagBag(dag_folder=sys.argv[1])
out = {}
for dag_id, dag in sorted(bag.dags.items()):
    data = DagSerialization.to_dict(dag)["dag"]
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    out[dag_id] = [digest, data.get("deadline")]
print(json.dumps(out))
"""


@pytest.mark.process
def test_serialization_is_the_same_in_every_process_deadlines_included(tmp_path: Path) -> None:
    """Airflow keeps one dag_version per DAG while its serialization is unchanged: two parses in
    processes with different hash seeds must serialize every DAG identically (deadline alerts too)."""
    outs = []
    for seed in ("1", "2"):
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "PYTHONHASHSEED": seed,
            "AIRFLOW_HOME": str(tmp_path),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONPATH": str(REPO / "plugins"),
        }
        proc = subprocess.run(
            [sys.executable, "-c", SERIALIZE, str(REPO / "dags")],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        outs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert outs[0] == outs[1]
    assert set(outs[0]) == {p.stem for p in DAG_FILES}
    # The shipped backup declares a deadline: Airflow's own, its callback importable by path.
    [deadline] = outs[0]["ops_metadata_backup"][1]
    deadline = deadline.get("__var", deadline)  # 3.1 wraps the alert as {"__type", "__var"}
    callback = deadline["callback"]["__data__"]
    assert callback["path"] == "airflow_ops.notifiers.deadline_missed"
    assert callback["kwargs"]["deadline"] == {"minutes": 90.0, "after": "queued_at"}
    assert deadline["reference"] == {"reference_type": "DagRunQueuedAtDeadline"}
    assert outs[0]["ops_health_probe"][1] is None
