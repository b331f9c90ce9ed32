"""`airflow-ops rehearse-upgrade` on a real backup of an Airflow 3.2.2 metadata DB, upgraded to 3.3.2.

The source is a database migrated by Airflow 3.2.2's own `airflow db migrate` (in an environment the
rehearsal's builder made) and seeded through Airflow's tables with 100,000 task instances; the
backup is the bundle's streamed, verified backup on a moto S3 server. A second backup of the same
database carries a reporting view on a column a 3.3.0 migration changes type, so that migration fails.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from airflow_ops.backup.dump import DEFAULT_PG_BIN_DIRS, run_backup
from airflow_ops.backup.verify import verify_backup
from airflow_ops.connections import PostgresTarget
from airflow_ops_tools.rehearse import envs, migration
from bench.dbclean_live import seed
from tests.harness import MotoServer, PostgresServer
from tests.integration.backup_helpers import BUCKET, request

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "rehearsal"
#: environments are cached across runs (make clean removes them)
CACHE = ROOT / ".compat" / "rehearsal-envs"
FROM, TO = "3.2.2", "3.3.2"
#: 12,500 DAG runs of 8 task instances, with their XComs, log rows and jobs (bench.dbclean_live.seed)
SEED_ROWS = 375_000
GOOD, BROKEN = "2026-11-01T000000Z", "2026-11-02T000000Z"
PREFIX = "rehearsal"
#: 3.3.0's migration 8812eb67b63c alters deadline_alert.interval to JSON: a view on it blocks that
FAILING_REVISION = "8812eb67b63c"


def _rehearse(
    pg_server: PostgresServer, backup: str, *args: str, env: dict[str, str], timeout: float = 1200
) -> subprocess.CompletedProcess[str]:
    """``rehearse-upgrade --to 3.3.2`` of ``backup``, with the scratch database on the test server."""
    t = pg_server.target("postgres")
    scratch = f"postgresql://{t['user']}@{t['host']}:{t['port']}/postgres"
    common = [
        "--to",
        TO,
        "--backup",
        backup,
        "--prefix",
        PREFIX,
        "--bucket",
        BUCKET,
        "--scratch-url",
        scratch,
    ]
    return _cli(*common, *args, env=env, timeout=timeout)


def _cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 1200
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow_ops_tools.cli", "rehearse-upgrade", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def cli_env(s3_server: MotoServer) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")},
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_server.endpoint_url,
    }


@pytest.fixture(scope="module")
def source(
    pg_server: PostgresServer, s3_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A 3.2.2 metadata DB with history, and two verified backups of it (the second with the view)."""
    env = envs.ensure_env(FROM, cache=CACHE)
    dbname = pg_server.create_database("airflow_ops_rehearsal_src")
    target = PostgresTarget(**pg_server.target(dbname))
    home = tmp_path_factory.mktemp("airflow-322-home")
    proc = subprocess.run(
        [env.airflow, "db", "migrate"],
        env=migration.airflow_environ(target, str(home)),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    counts = seed(pg_server.url_for(dbname), SEED_ROWS)
    assert counts["task_instance"] >= 100_000
    client = s3_server.client()
    manifests = {}
    for stamp, day in ((GOOD, 1), (BROKEN, 2)):
        if stamp == BROKEN:
            with psycopg2.connect(pg_server.url_for(dbname)) as conn, conn.cursor() as cur:
                cur.execute("CREATE VIEW ops_deadline_report AS SELECT id, interval FROM deadline_alert")
        req = request(
            pg_server, dbname, PREFIX, dt.datetime(2026, 11, day, tzinfo=dt.UTC), airflow_version=FROM
        )
        manifest = run_backup(client, req)
        verify_backup(client, manifest, PREFIX, list(DEFAULT_PG_BIN_DIRS), None)
        manifests[stamp] = manifest
    yield {"dbname": dbname, "counts": counts, "manifests": manifests}
    pg_server.drop_database(dbname)


def _databases(pg_server: PostgresServer, like: str) -> list[str]:
    conn = psycopg2.connect(pg_server.admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (like,))
            return sorted(r[0] for r in cur.fetchall())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def dags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture DAGs, and one of the bundle's own generated DAG files."""
    folder = tmp_path_factory.mktemp("dags")
    for path in (FIXTURES / "dags").glob("*.py"):
        shutil.copy(path, folder / path.name)
    shutil.copy(ROOT / "dags" / "ops_health_probe.py", folder / "ops_health_probe.py")
    return folder


@pytest.fixture(scope="module")
def rehearsal(
    source: dict[str, Any],
    pg_server: PostgresServer,
    cli_env: dict[str, str],
    dags: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    report = tmp_path_factory.mktemp("report") / "rehearsal.json"
    proc = _rehearse(
        pg_server,
        GOOD,
        "--allow-same-server",
        "--dags-folder",
        str(dags),
        "--plugins-folder",
        str(ROOT / "plugins"),
        "--airflow-cfg",
        str(FIXTURES / "carried-over.cfg"),
        "--report",
        str(report),
        env=cli_env,
    )
    assert report.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads(report.read_text())


def test_the_rehearsal_migrates_the_restored_backup_and_the_revision_moves(
    rehearsal: Any, source: Any
) -> None:
    proc, report = rehearsal
    m = report["migration"]
    assert m["ok"] is True, m
    assert m["revision_before"] == source["manifests"][GOOD].alembic_revision
    assert m["revision_after"] != m["revision_before"]
    assert m["migrations_run"] >= 14  # 3.3.0 brought migrations 0110 to 0123
    assert report["check_migrations"]["ok"] is True
    assert report["restore"]["rows"] == sum(source["manifests"][GOOD].table_row_counts.values())
    assert report["from_version"] == FROM and report["to_version"] == TO
    assert report["headline"].startswith(f"{FROM} → {TO}: migration ")
    assert report["headline"] in proc.stdout


def test_the_row_counts_hold_across_the_migration(rehearsal: Any, source: Any) -> None:
    _proc, report = rehearsal
    rows = report["row_counts"]
    assert rows["tables_compared"] >= 40
    # nothing lost; `airflow db migrate` itself logs one event into `log`
    assert all(c["after"] >= c["before"] for c in rows["changed"].values()), rows["changed"]
    assert set(rows["changed"]) <= {"public.log"}, rows["changed"]
    assert "rows lost" not in report["headline"]
    assert source["counts"]["task_instance"] == 100_000


def test_a_dag_file_that_imports_on_3_2_and_not_on_3_3_is_listed(rehearsal: Any) -> None:
    proc, report = rehearsal
    d = report["dags"]
    assert d["checked"] == 4
    assert [b["file"] for b in d["break"]] == ["action_logger_dag.py"]
    assert "airflow.utils.log.action_logger" in d["break"][0]["error"]
    assert [f["file"] for f in d["failing_both"]] == ["broken_dag.py"]  # broken before: not a break
    assert "action_logger_dag.py" in proc.stdout


def test_a_removed_config_key_is_reported(rehearsal: Any) -> None:
    proc, report = rehearsal
    issues = report["config"]["issues"]
    assert len(issues) == 1 and "`check_slas`" in issues[0], issues
    assert "1 config key removed" in report["headline"]
    assert proc.returncode == 1  # findings: a DAG file breaks, a config key is gone
    assert report["verdict"] == "findings"


def test_the_locks_are_sampled_and_the_scratch_database_is_dropped(
    rehearsal: Any, pg_server: PostgresServer
) -> None:
    _proc, report = rehearsal
    m = report["migration"]
    assert m["lock_samples"] > 0
    # 3.3.0 adds columns to task_instance and others under ACCESS EXCLUSIVE
    assert all(lock["table"] and lock["seconds"] >= 0 for lock in m["locks"])
    assert report["scratch_kept"] is False
    assert report["scratch_database"] not in _databases(pg_server, "airflow_ops_%")


def test_a_failed_migration_exits_2_names_the_revision_and_keeps_the_scratch_database(
    source: Any, pg_server: PostgresServer, cli_env: dict[str, str]
) -> None:
    proc = _rehearse(pg_server, BROKEN, "--json", "--allow-same-server", env=cli_env)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    m = report["migration"]
    assert m["ok"] is False and m["failed_revision"] == FAILING_REVISION, m
    assert m["error"].startswith("psycopg2.errors.FeatureNotSupported: cannot alter type of a column"), m
    assert "ALTER TABLE deadline_alert" in m["failed_statement"], m
    assert "ops_deadline_report" in m["detail"], m  # the object in the way, named by PostgreSQL
    assert report["scratch_kept"] is True
    kept = report["scratch_database"]
    try:
        assert kept in _databases(pg_server, "airflow_ops_rehearsal_kept_%")
        assert "dropdb -h " in report["drop_scratch"] and kept in report["drop_scratch"]
    finally:
        pg_server.drop_database(kept)


def test_the_backups_own_server_is_refused_without_allow_same_server(
    source: Any, pg_server: PostgresServer, cli_env: dict[str, str]
) -> None:
    proc = _rehearse(pg_server, GOOD, env=cli_env, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--allow-same-server" in lines[0] and "Traceback" not in proc.stderr
