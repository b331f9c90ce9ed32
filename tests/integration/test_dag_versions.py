"""Generated DAGs do not churn DAG versions: a real dag-processor re-parses every file 20 times.

Airflow 3 writes a new ``dag_version`` row whenever a DAG's serialization changes, so a DAG file
that is not deterministic (timestamps, random ids, unordered sets in its arguments) grows the
metadata DB on every parse. ``airflow dag-processor --num-runs N`` exits once every file was parsed
N times, which makes "at least 20 re-parses of every file" exact.

A changed serialization only adds a row when the current version already has task instances
(Airflow rewrites an unused version in place), so each DAG first gets a finished run pinned to its
version: from then on, any churn would show as a second row.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg2

from tests.harness import PostgresServer
from tests.integration.test_gitsync import bundle_dag_ids, dag_processor_stack, git, import_errors, query

REPO = Path(__file__).resolve().parents[2]
PARSES = 20


def dag_versions(pg: PostgresServer, db: str) -> dict[str, int]:
    return {
        r[0]: int(r[1]) for r in query(pg, db, "SELECT dag_id, count(*) FROM dag_version GROUP BY dag_id")
    }


def dag_hashes(pg: PostgresServer, db: str) -> dict[str, str]:
    return {r[0]: str(r[1]) for r in query(pg, db, "SELECT dag_id, dag_hash FROM serialized_dag")}


#: A control: a DAG file that is not deterministic, parsed next to the bundle's. It must churn,
#: or the measurement could not have seen churn in the bundle's DAGs either.
CHURN_DAG = """
import uuid

from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("zz_churn_control", schedule=None, description=str(uuid.uuid4())):
    EmptyOperator(task_id="t")
"""

PIN_SQL = """
INSERT INTO dag_run (dag_id, run_id, run_type, state, logical_date, run_after, start_date, end_date,
                     data_interval_start, data_interval_end, conf, clear_number, span_status)
SELECT dag_id, 'manual__pin', 'manual', 'success', now(), now(), now(), now(), now(), now(), '{}', 0, 'ended'
FROM dag_version;
INSERT INTO task_instance (id, task_id, dag_id, run_id, map_index, try_number, max_tries, pool, pool_slots,
                           state, start_date, end_date, duration, hostname, span_status, priority_weight,
                           dag_version_id)
SELECT gen_random_uuid(), 'pinned', dag_id, 'manual__pin', -1, 1, 1, 'default_pool', 1, 'success',
       now(), now(), 1, 'test', 'ended', 1, id
FROM dag_version;
"""


def pin_versions(pg: PostgresServer, db: str) -> None:
    """A finished run with a task instance on every DAG's current version."""
    conn = psycopg2.connect(pg.url_for(db))
    with conn, conn.cursor() as cur:
        cur.execute(PIN_SQL)
    conn.close()


def test_reparsing_keeps_one_dag_version_per_dag_and_a_config_change_adds_exactly_one(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    checkout = tmp_path / "synced"
    git("clone", "--quiet", str(REPO), str(checkout))
    expected = bundle_dag_ids(checkout)
    (checkout / "dags" / "zz_churn_control.py").write_text(CHURN_DAG)
    control = "zz_churn_control"
    db = pg_server.create_database("airflow_ops_dag_versions")
    try:
        stack = dag_processor_stack(
            tmp_path / "home",
            pg_server,
            db,
            checkout,
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="0",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="1",
        )
        stack.migrate()
        stack.airflow("dag-processor", "--num-runs", "1", timeout=1200)
        assert import_errors(pg_server, db) == []
        assert dag_versions(pg_server, db) == dict.fromkeys(expected | {control}, 1)
        first = dag_hashes(pg_server, db)
        pin_versions(pg_server, db)

        stack.airflow("dag-processor", "--num-runs", str(PARSES), timeout=1200)
        assert import_errors(pg_server, db) == []
        versions = dag_versions(pg_server, db)
        assert versions.pop(control) >= 2  # the control churned: churn is visible here
        assert versions == dict.fromkeys(expected, 1)
        hashes = dag_hashes(pg_server, db)
        assert {d: hashes[d] for d in expected} == {d: first[d] for d in expected}

        # A config change, deployed the usual way: edit the YAML, regenerate, sync.
        changed = "ops_health_probe"
        yml = checkout / "config" / f"{changed}.yml"
        text = yml.read_text()
        assert "stuck_task_minutes: 30" in text
        yml.write_text(text.replace("stuck_task_minutes: 30", "stuck_task_minutes: 45"))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(checkout / d) for d in ("plugins", "tools"))}
        subprocess.run(
            [sys.executable, "-m", "airflow_ops_tools.cli", "generate"],
            cwd=checkout,
            env=env,
            check=True,
            timeout=300,
            capture_output=True,
        )
        assert "'stuck_task_minutes': 45" in (checkout / "dags" / f"{changed}.py").read_text()
        stack.airflow("dag-processor", "--num-runs", "5", timeout=1200)
        assert import_errors(pg_server, db) == []
        versions = dag_versions(pg_server, db)
        versions.pop(control)
        assert versions == {d: 2 if d == changed else 1 for d in expected}
        after = query(pg_server, db, "SELECT dag_id, dag_hash FROM serialized_dag ORDER BY dag_id")
        changed_hashes = {
            r[0] for r in after if r[0] in expected and (r[0] == changed or first[r[0]] != r[1])
        }
        assert changed_hashes == {changed}
    finally:
        pg_server.drop_database(db)
