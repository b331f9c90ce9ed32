"""The bundle's least-privilege API identity under the real api-server (issue 14, item 5).

``airflow_ops_api`` logs in as ``airflow-ops-bot`` (SimpleAuthManager role ``user``), not admin: it
reads health and import errors and writes run notes, and cannot read or change connections or
variables, change pools, or read the config. The admin password is in no component's environment.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg2
import pytest
import requests

from tests.harness import BOT_USER, AirflowStack

PROBE = "ops_health_probe"


def _call(stack: AirflowStack, method: str, path: str, **kw: Any) -> int:
    token = stack.bot_api().token()
    resp = requests.request(
        method, stack.base_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30, **kw
    )
    return resp.status_code


@pytest.fixture(scope="module")
def probe_run(airflow: AirflowStack) -> Any:
    run = airflow.run_dag(PROBE)
    assert run.state == "success", run.log_text()[-3000:]
    return run


def test_the_api_connection_is_the_bot_and_the_admin_password_reaches_no_component(
    airflow: AirflowStack,
) -> None:
    conn = json.loads(airflow.env["AIRFLOW_CONN_AIRFLOW_OPS_API"])
    assert conn["login"] == BOT_USER
    assert airflow.password not in json.dumps(airflow.env), "the admin password is in the environment"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v2/connections", None),
        ("GET", "/api/v2/connections/airflow_metadata_db", None),
        ("POST", "/api/v2/connections", {"connection_id": "bot_made", "conn_type": "http"}),
        (
            "PATCH",
            "/api/v2/connections/airflow_ops_api",
            {"connection_id": "airflow_ops_api", "conn_type": "http"},
        ),
        ("DELETE", "/api/v2/connections/airflow_ops_api", None),
        ("GET", "/api/v2/variables", None),
        ("POST", "/api/v2/variables", {"key": "bot_made", "value": "x"}),
        ("DELETE", "/api/v2/variables/anything", None),
        ("POST", "/api/v2/pools", {"name": "bot_pool", "slots": 1}),
        ("PATCH", "/api/v2/pools/default_pool", {"name": "default_pool", "slots": 1000}),
        ("DELETE", "/api/v2/pools/default_pool", None),
        ("GET", "/api/v2/config", None),
    ],
)
def test_the_bot_cannot_read_or_change_connections_variables_pools_or_config(
    airflow: AirflowStack, method: str, path: str, body: dict[str, Any] | None
) -> None:
    status = _call(airflow, method, path, json=body) if body is not None else _call(airflow, method, path)
    assert status == 403, f"{method} {path} answered {status} for {BOT_USER}"


def test_what_the_bot_can_do_health_import_errors_and_reading_dags(airflow: AirflowStack) -> None:
    assert _call(airflow, "GET", "/api/v2/monitor/health") == 200
    assert _call(airflow, "GET", "/api/v2/importErrors") == 200
    assert _call(airflow, "GET", "/api/v2/dags") == 200
    # Documented limits of role `user`: it may read pool names and sizes and trigger DAGs.
    assert _call(airflow, "GET", "/api/v2/pools") == 200


def test_run_notes_are_written_by_the_bot(airflow: AirflowStack, probe_run: Any) -> None:
    assert probe_run.note and "Health probe: OK" in probe_run.note
    conn = psycopg2.connect(airflow.sql_alchemy_conn.replace("+psycopg2", ""))
    with conn.cursor() as cur:
        cur.execute(
            "SELECT n.user_id FROM dag_run_note n JOIN dag_run r ON r.id = n.dag_run_id"
            " WHERE r.dag_id = %s AND r.run_id = %s",
            (PROBE, probe_run.run_id),
        )
        assert cur.fetchone()[0] == BOT_USER
    conn.close()
    path = f"/api/v2/dags/{PROBE}/dagRuns/{probe_run.run_id}"
    assert _call(airflow, "PATCH", path, params={"update_mask": "note"}, json={"note": "bot note"}) == 200
