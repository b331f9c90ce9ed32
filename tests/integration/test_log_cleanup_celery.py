"""Two real Celery workers, each with its own log folder: one sweep task per queue cleans each once."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from airflow_ops.registry import parse
from airflow_ops_tools.generator import render_dag_file
from tests.harness import AirflowStack, PostgresServer

pytestmark = pytest.mark.celery
REPO = Path(__file__).resolve().parents[2]
REDIS_DB = 7
DAG_ID = "ops_log_cleanup_celery_test"
QUEUES = ("logs_worker_a", "logs_worker_b")


def _old_log(folder: Path, dag: str) -> Path:
    path = folder / f"dag_id={dag}" / "run_id=old" / "task_id=t" / "attempt=1.log"
    path.parent.mkdir(parents=True)
    path.write_text('{"event": "old"}\n')
    ts = time.time() - 40 * 86_400
    os.utime(path, (ts, ts))
    return path


@pytest.fixture(scope="module")
def celery_stack(
    tmp_path_factory: pytest.TempPathFactory, pg_server: PostgresServer
) -> Iterator[AirflowStack]:
    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()
    home = tmp_path_factory.mktemp("celery_home")
    dags = home / "dags"
    dags.mkdir()
    cfg = parse(
        {
            "kind": "log_cleanup",
            "dag_id": DAG_ID,
            "schedule": "@daily",
            "retention_days": 30,
            "worker_queues": list(QUEUES),
            "dag_processor_logs": False,
        }
    )
    (dags / f"{DAG_ID}.py").write_text(render_dag_file(cfg, "tests/integration/test_log_cleanup_celery.py"))
    dbname = pg_server.create_database("airflow_ops_celery")
    url = pg_server.sqlalchemy_url(dbname)
    env = {
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + url.replace("+psycopg2", ""),
    }
    stack = AirflowStack(home, url, dags, REPO / "plugins", "CeleryExecutor", env)
    try:
        stack.migrate()
        stack.start()
        for name, queue in zip(("a", "b"), QUEUES, strict=True):
            stack.start_celery_worker(name, [queue], home / f"worker_{name}_logs")
        stack.wait_for_dags([DAG_ID])
        yield stack
    finally:
        stack.stop()
        pg_server.drop_database(dbname)
    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()


def test_each_worker_log_folder_is_cleaned_exactly_once(celery_stack: AirflowStack) -> None:
    home = celery_stack.home
    old_a = _old_log(home / "worker_a_logs", "dag_on_a")
    old_b = _old_log(home / "worker_b_logs", "dag_on_b")
    res = celery_stack.run_dag(DAG_ID, timeout=400)
    assert res.state == "success", celery_stack.component_log("worker-a")[-3000:]
    assert not old_a.exists() and not old_b.exists()
    report = celery_stack.xcom(DAG_ID, res.run_id, "report")
    roots = sorted((r["queue"], r["root"]) for r in report["rows"])
    assert roots == [
        (QUEUES[0], str(home / "worker_a_logs")),
        (QUEUES[1], str(home / "worker_b_logs")),
    ], json.dumps(report["rows"])
    per_dag = report["details"]["per_dag"]
    assert per_dag["dag_on_a"]["files"] == 1 and per_dag["dag_on_b"]["files"] == 1
