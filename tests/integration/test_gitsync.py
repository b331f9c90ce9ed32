"""The whole repository, git-synced, is a working dags folder; and a GitDagBundle over it works.

Both run a real dag-processor on a fresh database and read what it recorded: exactly the bundle's
DAGs (the stems of dags/*.py) and zero import errors. Nothing puts plugins/ on PYTHONPATH: the
generated DAG files find it themselves, as they must after a git-sync.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from tests.harness import AirflowStack, PostgresServer, wait_for

REPO = Path(__file__).resolve().parents[2]


def git(*args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=True)
    return proc.stdout


@pytest.fixture
def fresh_db(pg_server: PostgresServer) -> Iterator[str]:
    name = pg_server.create_database("airflow_ops_gitsync")
    yield name
    pg_server.drop_database(name)


def query(pg: PostgresServer, db: str, sql: str) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(pg.url_for(db), connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


def active_dags(pg: PostgresServer, db: str) -> set[str]:
    return {r[0] for r in query(pg, db, "SELECT dag_id FROM dag WHERE NOT is_stale")}


def import_errors(pg: PostgresServer, db: str) -> list[tuple[Any, ...]]:
    return query(pg, db, "SELECT filename, stacktrace FROM import_error")


def bundle_dag_ids(checkout: Path) -> set[str]:
    return {p.stem for p in (checkout / "dags").glob("*.py")}


def dag_processor_stack(
    home: Path, pg: PostgresServer, db: str, dags_folder: Path, **env: str
) -> AirflowStack:
    # PYTHONPATH empty on purpose: the checkout must make plugins/ importable on its own.
    return AirflowStack(home, pg.sqlalchemy_url(db), dags_folder, None, extra_env={"PYTHONPATH": "", **env})


def settle(stack: AirflowStack, pg: PostgresServer, db: str, expected: set[str]) -> None:
    """Wait for the expected DAGs, then two more refresh cycles so late import errors would show."""
    try:
        wait_for(
            lambda: active_dags(pg, db) == expected or import_errors(pg, db), 300, f"DAGs {sorted(expected)}"
        )
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{diagnosis(stack, pg, db, expected)}") from None
    time.sleep(12)


def diagnosis(stack: AirflowStack, pg: PostgresServer, db: str, expected: set[str]) -> str:
    """What the dag-processor recorded and said, for a failure message that explains itself."""
    rows = query(pg, db, "SELECT dag_id, is_stale, bundle_name, relative_fileloc FROM dag ORDER BY dag_id")
    log = stack.component_log("dag-processor")
    notable = [ln for ln in log.splitlines() if any(w in ln.lower() for w in ("warn", "error", "exception"))]
    return "\n".join(
        [
            f"expected: {sorted(expected)}",
            f"dag rows: {rows}",
            f"import errors: {import_errors(pg, db)}",
            "dag-processor warnings/errors (last 40):",
            *notable[-40:],
            "dag-processor log head:",
            log[:3000],
            "dag-processor log tail:",
            log[-3000:],
        ]
    )


def test_a_fresh_clone_of_the_repository_is_a_dags_folder(
    tmp_path: Path, pg_server: PostgresServer, fresh_db: str
) -> None:
    checkout = tmp_path / "synced"
    git("clone", "--quiet", str(REPO), str(checkout))
    expected = bundle_dag_ids(checkout)
    assert expected
    stack = dag_processor_stack(tmp_path / "home", pg_server, fresh_db, checkout)
    stack.migrate()
    try:
        stack.start(("dag-processor",))
        settle(stack, pg_server, fresh_db, expected)
        assert import_errors(pg_server, fresh_db) == []
        assert active_dags(pg_server, fresh_db) == expected
    finally:
        stack.stop()


def test_git_dag_bundle_tracks_the_synced_branch(
    tmp_path: Path, pg_server: PostgresServer, fresh_db: str
) -> None:
    origin = tmp_path / "origin"
    git("clone", "--quiet", str(REPO), str(origin))
    git("checkout", "--quiet", "-B", "deploy", cwd=origin)
    expected = bundle_dag_ids(origin)
    bundles = [
        {
            "name": "airflow-ops",
            "classpath": "airflow.providers.git.bundles.git.GitDagBundle",
            "kwargs": {"repo_url": str(origin), "tracking_ref": "deploy", "refresh_interval": 5},
        }
    ]
    stack = dag_processor_stack(
        tmp_path / "home",
        pg_server,
        fresh_db,
        tmp_path / "unused-dags-folder",
        AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST=json.dumps(bundles),
        AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL="5",
    )
    stack.migrate()
    try:
        stack.start(("dag-processor",))
        settle(stack, pg_server, fresh_db, expected)
        assert import_errors(pg_server, fresh_db) == []
        assert active_dags(pg_server, fresh_db) == expected
        bundle_names = {r[0] for r in query(pg_server, fresh_db, "SELECT DISTINCT bundle_name FROM dag")}
        assert bundle_names == {"airflow-ops"}

        # Deploying is a merge to the synced branch: remove one DAG there and it goes away.
        removed = sorted(expected)[0]
        git("rm", "--quiet", f"dags/{removed}.py", cwd=origin)
        git(
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "--quiet",
            "-m",
            "retire",
            cwd=origin,
        )
        try:
            wait_for(
                lambda: active_dags(pg_server, fresh_db) == expected - {removed}, 120, f"{removed} to go"
            )
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{diagnosis(stack, pg_server, fresh_db, expected)}") from None
        assert import_errors(pg_server, fresh_db) == []
    finally:
        stack.stop()
