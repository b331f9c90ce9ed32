"""Airflow 3.3.2 really starts from each rendered profile, configured by the airflow.cfg alone.

The stacks here set no AIRFLOW__* variables of their own (``config_overrides=False``): every setting
comes from the file the renderer wrote, with secrets as ${AIRFLOW_OPS_*} references in the
components' environment, as in a real deployment.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from airflow_ops_tools.cfgrender import PROFILES, render, sample_environ, write_config
from tests.harness import AirflowStack, PostgresServer

REPO = Path(__file__).resolve().parents[2]
CELERY_REDIS_DB = 3


def profile_stack(
    home: Path, pg: PostgresServer, dbname: str, profile: str, **overrides: str
) -> AirflowStack:
    """A stack whose only configuration is ``home/airflow.cfg`` rendered for ``profile``."""
    dags = home / "dags"
    dags.mkdir(parents=True)
    # Only the health probe DAG: the stack must not depend on DAG files other work may be changing.
    shutil.copy(REPO / "dags" / "ops_health_probe.py", dags)
    stack = AirflowStack(
        home, pg.sqlalchemy_url(dbname), dags, REPO / "plugins", PROFILES[profile], config_overrides=False
    )
    environ = sample_environ(
        profile,
        AIRFLOW_OPS_SQL_ALCHEMY_CONN=stack.sql_alchemy_conn,
        AIRFLOW_OPS_ADMIN_PASSWORD=stack.password,
        AIRFLOW_OPS_DAGS_FOLDER=str(dags),
        AIRFLOW_OPS_PLUGINS_FOLDER=str(REPO / "plugins"),
        AIRFLOW_OPS_BASE_LOG_FOLDER=str(home / "logs"),
        AIRFLOW_OPS_DAG_PROCESSOR_LOG_FOLDER=str(home / "logs" / "dag_processor"),
        AIRFLOW_OPS_SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
        AIRFLOW_OPS_API_BASE_URL=stack.base_url,
        AIRFLOW_OPS_API_HOST="127.0.0.1",
        AIRFLOW_OPS_API_PORT=str(stack.api_port),
        AIRFLOW_OPS_API_WORKERS="1",
        AIRFLOW_OPS_SCHEDULER_HEALTH_PORT=str(stack.scheduler_health_port),
        AIRFLOW_OPS_DAG_REFRESH_INTERVAL="5",
        AIRFLOW_OPS_DAGS_PAUSED_AT_CREATION="False",
        **overrides,
    )
    cfg = home / "airflow.cfg"
    write_config(render(profile, environ), cfg)
    stack.extra_env = {**environ, "AIRFLOW_CONFIG": str(cfg)}
    return stack


@pytest.fixture
def fresh_db(pg_server: PostgresServer) -> Iterator[str]:
    name = pg_server.create_database("airflow_ops_profile")
    yield name
    pg_server.drop_database(name)


def test_local_profile_components_become_healthy(
    tmp_path: Path, pg_server: PostgresServer, fresh_db: str
) -> None:
    stack = profile_stack(tmp_path / "home", pg_server, fresh_db, "local")
    assert not any(k.startswith("AIRFLOW__") for k in stack.env)
    stack.migrate()
    try:
        stack.start(("scheduler", "dag-processor", "api-server"))  # waits for /monitor/health: all healthy
        body = stack.api().health()
        assert body["scheduler"]["status"] == "healthy"
        assert body["dag_processor"]["status"] == "healthy"
        assert body["metadatabase"]["status"] == "healthy"
        # [scheduler] enable_health_check and its port came from the file
        health = requests.get(f"http://127.0.0.1:{stack.scheduler_health_port}/health", timeout=10)
        assert health.status_code == 200
        # the dags folder came from the file too
        stack.wait_for_dags(["ops_health_probe"], timeout=120)
    finally:
        stack.stop()


def test_local_profile_values_are_read_from_the_file(
    tmp_path: Path, pg_server: PostgresServer, fresh_db: str
) -> None:
    stack = profile_stack(tmp_path / "home", pg_server, fresh_db, "local", AIRFLOW_OPS_PARALLELISM="7")
    assert stack.airflow("config", "get-value", "core", "parallelism").stdout.strip() == "7"
    assert stack.airflow("config", "get-value", "core", "executor").stdout.strip() == "LocalExecutor"
    jwt = stack.airflow("config", "get-value", "api_auth", "jwt_secret").stdout.strip()
    assert jwt == stack.extra_env["AIRFLOW_OPS_JWT_SECRET"]


@pytest.mark.celery
def test_celery_profile_worker_runs_a_bundle_task(
    tmp_path: Path, pg_server: PostgresServer, fresh_db: str
) -> None:
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=CELERY_REDIS_DB).flushdb()
    stack = profile_stack(
        tmp_path / "home",
        pg_server,
        fresh_db,
        "celery",
        AIRFLOW_OPS_CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{CELERY_REDIS_DB}",
        AIRFLOW_OPS_CELERY_RESULT_BACKEND="db+" + pg_server.url_for(fresh_db),
        AIRFLOW_OPS_CELERY_WORKER_CONCURRENCY="2",
    )
    assert stack.airflow("config", "get-value", "core", "executor").stdout.strip() == "CeleryExecutor"
    stack.migrate()
    try:
        stack.start()
        stack.start_celery_worker("profile", ["default"])
        stack.wait_for_dags(["ops_health_probe"], timeout=120)
        result = stack.run_dag("ops_health_probe", timeout=240)
        context = result.log_text() + stack.component_log("worker-profile")[-3000:]
        # The profile sample defines no alert or S3 connection: the probe, run on the worker, must say
        # exactly that, and find every Airflow component of the Celery profile healthy.
        assert result.task_states == {"probe": "failed"}, context
        report = stack.xcom("ops_health_probe", result.run_id, "probe", key="report")
        verdicts = {row["name"]: row["verdict"] for row in report["rows"]}
        unhealthy = {name for name, verdict in verdicts.items() if verdict != "ok"}
        assert unhealthy == {
            "alert_channel:email:smtp_default",
            "alert_channel:webhook:ops_alert_webhook",
            "backup_age_hours",
        }, context
        for component in (
            "metadatabase",
            "scheduler_heartbeat_age_s",
            "triggerer_heartbeat_age_s",
            "dag_processor_heartbeat_age_s",
            "stuck_in_queued_events",
        ):
            assert verdicts[component] == "ok", context
        # the task really went through the Celery worker
        assert "ops_health_probe" in stack.component_log("worker-profile")
    finally:
        stack.stop()
        redis.Redis(host="127.0.0.1", port=6379, db=CELERY_REDIS_DB).flushdb()
