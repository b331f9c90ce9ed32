"""ops_db_cleanup under the real Airflow: rows made by real runs, aged with SQL, purged by cutoff."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import psycopg2
import pytest

from airflow_ops import compat
from airflow_ops.backup.pointer import VerifiedBackup, write_latest_verified
from tests.harness import AirflowStack, MotoServer, wait_for

pytestmark = pytest.mark.airflow
DAG_ID = "ops_db_cleanup"
SOURCE_DAG = "ops_log_cleanup"


def _sql(airflow: AirflowStack, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(airflow.sql_alchemy_conn.replace("+psycopg2", ""))
    conn.autocommit = True
    with conn, conn.cursor() as cur:
        cur.execute(query, args)
        rows = cur.fetchall() if cur.description else []
    conn.close()
    return rows


def _identity(airflow: AirflowStack) -> dict[str, Any]:
    """The shared Airflow's metadata DB, as the backup DAG records it in its pointer."""
    sysid, dbname = _sql(
        airflow, "SELECT system_identifier::text, current_database() FROM pg_control_system()"
    )[0]
    return {"system_identifier": sysid, "dbname": dbname}


def _pointer(s3: MotoServer, hours_ago: float, database: dict[str, Any] | None = None) -> None:
    verified = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours_ago)
    write_latest_verified(
        s3.client(),
        "airflow-ops-backups",
        "metadata-backup",
        VerifiedBackup(
            dag_id="ops_metadata_backup",
            logical_date=verified.isoformat(),
            key="metadata-backup/test/metadata.dump",
            verified_at=verified.isoformat(),
            sha256="0" * 64,
            size_bytes=1,
            database=database or {},
        ),
    )


@pytest.fixture(scope="module")
def aged(airflow: AirflowStack) -> dict[str, str]:
    """Two real runs of another DAG; the first one's rows are aged 100 days through SQL."""
    old = airflow.run_dag(SOURCE_DAG, conf={"dry_run": True})
    new = airflow.run_dag(SOURCE_DAG, conf={"dry_run": True})
    assert old.state == new.state == "success"
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=100)
    _sql(airflow, "UPDATE dag_run SET start_date = %s WHERE run_id = %s", (past, old.run_id))
    _sql(airflow, "UPDATE task_instance SET start_date = %s WHERE run_id = %s", (past, old.run_id))
    _sql(airflow, "UPDATE log SET dttm = %s WHERE run_id = %s", (past, old.run_id))
    assert _sql(airflow, "SELECT count(*) FROM log WHERE run_id = %s", (old.run_id,))[0][0] > 0
    return {"old": old.run_id, "new": new.run_id}


@pytest.fixture(scope="module")
def refused(airflow: AirflowStack, s3_server: MotoServer, aged: dict[str, str]) -> Any:
    _pointer(s3_server, hours_ago=72)
    return airflow.run_dag(DAG_ID)


@pytest.fixture(scope="module")
def dry(airflow: AirflowStack, s3_server: MotoServer, refused: Any) -> dict[str, Any]:
    _pointer(s3_server, hours_ago=1)  # a pointer from before identities: passes, with a warning
    res = airflow.run_dag(DAG_ID, conf={"dry_run": True})
    assert res.state == "success", res.log_text()
    return dict(airflow.xcom(DAG_ID, res.run_id, "report"))


@pytest.fixture(scope="module")
def state_rows(airflow: AirflowStack, aged: dict[str, str]) -> dict[str, str] | None:
    """On 3.3: an expired and a live ``task_state_store`` row of the recent run (none elsewhere)."""
    if not compat.has_state_store_clean():
        assert "task_state_store" not in compat.db_clean_catalogue()
        return None
    [(run_pk,)] = _sql(airflow, "SELECT id FROM dag_run WHERE run_id = %s", (aged["new"],))
    for key, expires in (("expired", "now() - interval '1 day'"), ("live", "now() + interval '30 days'")):
        _sql(
            airflow,
            "INSERT INTO task_state_store (dag_run_id, task_id, map_index, key, dag_id, run_id, value, "
            f"updated_at, expires_at) VALUES (%s, 'sweep_default', -1, %s, %s, %s, '1', now(), {expires})",
            (run_pk, f"airflow-ops-test-{key}", SOURCE_DAG, aged["new"]),
        )
    return {"expired": "airflow-ops-test-expired", "live": "airflow-ops-test-live"}


@pytest.fixture(scope="module")
def purged(
    airflow: AirflowStack, s3_server: MotoServer, dry: dict[str, Any], state_rows: dict[str, str] | None
) -> dict[str, Any]:
    _pointer(s3_server, hours_ago=1, database=_identity(airflow))
    res = airflow.run_dag(DAG_ID, timeout=600)
    assert res.state == "success", res.log_text()
    return {
        "run": res,
        "report": airflow.xcom(DAG_ID, res.run_id, "report"),
        "archive": airflow.xcom(DAG_ID, res.run_id, "archive"),
    }


def _count(airflow: AirflowStack, table: str, run_id: str) -> int:
    return int(_sql(airflow, f"SELECT count(*) FROM {table} WHERE run_id = %s", (run_id,))[0][0])


def test_refuses_without_a_recent_verified_backup(
    airflow: AirflowStack, refused: Any, aged: dict[str, str]
) -> None:
    assert refused.state == "failed"
    assert refused.task_states["check_backup"] == "failed"
    assert refused.task_states["clean"] != "success"
    assert _count(airflow, "dag_run", aged["old"]) == 1


def test_dry_run_counts_and_deletes_nothing(
    airflow: AirflowStack, dry: dict[str, Any], aged: dict[str, str]
) -> None:
    assert dry["mode"] == "dry_run"
    would = {r["table"]: r["rows_purged"] for r in dry["rows"]}
    assert would["dag_run"] >= 1 and would["log"] >= 1
    assert _count(airflow, "dag_run", aged["old"]) == 1


def test_only_rows_older_than_the_cutoff_are_gone(
    airflow: AirflowStack, purged: dict[str, Any], aged: dict[str, str]
) -> None:
    assert _count(airflow, "dag_run", aged["old"]) == 0
    assert _count(airflow, "log", aged["old"]) == 0
    assert _count(airflow, "task_instance", aged["old"]) == 0
    assert _count(airflow, "dag_run", aged["new"]) == 1
    assert _count(airflow, "log", aged["new"]) > 0


def test_report_gives_rows_deleted_per_table(purged: dict[str, Any]) -> None:
    # >= : the shared Airflow also holds old rows seeded by other tests (e.g. the backup round trip).
    deleted = {r["table"]: r["rows_purged"] for r in purged["report"]["rows"]}
    assert purged["report"]["metrics"]["rows_purged"] == sum(deleted.values())
    assert deleted["dag_run"] >= 1 and deleted["log"] >= 1 and deleted["task_instance"] >= 1


def test_cleans_in_several_windows_oldest_first(purged: dict[str, Any]) -> None:
    runs = purged["report"]["metrics"]["windows"]
    assert runs >= 3  # log keeps 30 days: 100 -> 30 days takes three 30-day windows


def test_archive_is_in_s3_and_archive_tables_are_dropped(
    airflow: AirflowStack, s3_server: MotoServer, purged: dict[str, Any]
) -> None:
    archive = purged["archive"]
    keys = {
        o["Key"]
        for o in s3_server.client().list_objects_v2(
            Bucket="airflow-ops-archive", Prefix=archive["prefix"] + "/"
        )["Contents"]
    }
    assert any("_airflow_deleted__dag_run__" in k for k in keys)
    manifest = json.loads(
        s3_server.client()
        .get_object(Bucket="airflow-ops-archive", Key=archive["prefix"] + "/manifest.json")["Body"]
        .read()
    )
    assert {o["key"] for o in manifest["objects"]} <= keys
    assert archive["dropped"] is True
    assert (
        _sql(airflow, "SELECT tablename FROM pg_tables WHERE tablename LIKE '\\_airflow\\_deleted\\_\\_%%'")
        == []
    )


def test_archive_upload_must_succeed_before_the_archive_tables_are_dropped(
    airflow: AirflowStack, purged: dict[str, Any]
) -> None:
    """Library level: a failed upload leaves the archive tables in place."""
    from airflow_ops.connections import PostgresTarget
    from airflow_ops.dbclean import runner

    _sql(airflow, "CREATE TABLE _airflow_deleted__log__20200101000000 AS SELECT * FROM log LIMIT 1")
    parts = psycopg2.extensions.parse_dsn(airflow.sql_alchemy_conn.replace("+psycopg2", ""))
    target = PostgresTarget(
        parts["host"], int(parts.get("port", 5432)), parts["user"], parts["dbname"], parts.get("password")
    )

    class Unconfirmed:
        def upload_file(self, *a: Any) -> None:
            pass

        def head_object(self, **kw: Any) -> dict[str, Any]:
            return {"ContentLength": -1}

    cli = runner.DbCli(target, timeout_s=300)
    try:
        with pytest.raises(runner.DbCleanupError, match="NOT dropped"):
            runner.export_and_drop(cli, Unconfirmed(), "airflow-ops-archive", "db-cleanup/unconfirmed")
        assert "_airflow_deleted__log__20200101000000" in runner.archive_tables(target)
    finally:
        _sql(airflow, "DROP TABLE IF EXISTS _airflow_deleted__log__20200101000000")


# Issue 14 item 8: last, since the foreign-pointer run follows the purge.
@pytest.fixture(scope="module")
def foreign(airflow: AirflowStack, s3_server: MotoServer, purged: dict[str, Any]) -> Any:
    """A fresh pointer, but for another database (another Airflow sharing the bucket and prefix)."""
    other = {**_identity(airflow), "dbname": "another_airflow"}
    _pointer(s3_server, hours_ago=1, database=other)
    try:
        return airflow.run_dag(DAG_ID, conf={"dry_run": True})
    finally:
        _pointer(s3_server, hours_ago=1, database=_identity(airflow))


def test_refuses_a_fresh_pointer_for_another_database(airflow: AirflowStack, foreign: Any) -> None:
    """Issue 14 item 8: the gate identifies the database, not only the backup's age."""
    assert foreign.state == "failed"
    assert foreign.task_states["check_backup"] == "failed"
    log = foreign.log_text("check_backup")
    assert "is a backup of database 'another_airflow'" in log, log[-3000:]
    assert f"this DAG purges database {_identity(airflow)['dbname']!r}" in log
    report = airflow.xcom(DAG_ID, foreign.run_id, "report", key="report")
    assert report["failure"]["step"] and "another_airflow" in report["failure"]["reason"]


def test_a_pointer_without_identity_passes_with_a_warning(dry: dict[str, Any]) -> None:
    assert any("does not say which database it backs up" in w for w in dry["warnings"]), dry["warnings"]


def test_a_pointer_of_this_database_passes_without_warning(purged: dict[str, Any]) -> None:
    assert not any("database" in w for w in purged["report"]["warnings"]), purged["report"]["warnings"]


def test_task_state_store_is_cleaned_by_airflows_own_command_where_it_exists(
    airflow: AirflowStack, purged: dict[str, Any], state_rows: dict[str, str] | None
) -> None:
    """3.3: ``airflow state-store clean`` after the windows: the expired row goes, the live one stays.
    Earlier releases have neither the table nor the command, and the report says so."""
    details = purged["report"]["details"]
    if state_rows is None:
        assert details["state-store clean"] == "not in this Airflow (3.3+)"
        return
    assert details["state-store clean"] == "ran"
    keys = {
        r[0] for r in _sql(airflow, "SELECT key FROM task_state_store WHERE key LIKE 'airflow-ops-test-%%'")
    }
    assert keys == {state_rows["live"]}


@pytest.fixture(scope="module")
def failing_table(airflow: AirflowStack, s3_server: MotoServer, purged: dict[str, Any]) -> Any:
    """An aged ``log`` row whose DELETE the database refuses (insufficient privilege, as a role without
    DELETE would): ``airflow db clean`` must not report success. 3.2+ exits 1 on its own
    (``--error-on-cleanup-failure``); on 3.1 it logs the table and exits 0, and the bundle reads that."""
    _sql(
        airflow, "INSERT INTO log (dttm, event) VALUES (now() - interval '100 days', 'airflow-ops-test-kept')"
    )
    _sql(
        airflow,
        "CREATE OR REPLACE FUNCTION airflow_ops_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'test: delete refused' USING ERRCODE = '42501'; END $$",
    )
    _sql(
        airflow,
        "CREATE TRIGGER airflow_ops_test_refuse BEFORE DELETE ON log FOR EACH ROW "
        "EXECUTE FUNCTION airflow_ops_test_refuse()",
    )
    _pointer(s3_server, hours_ago=1, database=_identity(airflow))
    try:
        run_id = airflow.trigger(DAG_ID)
        # The first failed attempt is the verdict: fail the task instance then instead of waiting out
        # the shipped retry delay (minutes) for a second attempt that meets the same trigger.
        api = airflow.api()
        ti = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/clean"
        wait_for(lambda: api.get(ti)["state"] in ("up_for_retry", "failed"), 300, "clean's first failure")
        if api.get(ti)["state"] == "up_for_retry":
            api.request("PATCH", ti, json={"new_state": "failed"})
        return airflow.wait_run(DAG_ID, run_id, timeout=600)
    finally:
        _sql(airflow, "DROP TRIGGER airflow_ops_test_refuse ON log")
        _sql(airflow, "DROP FUNCTION airflow_ops_test_refuse()")


def test_a_table_airflow_fails_to_clean_fails_the_run_on_every_release(
    airflow: AirflowStack, failing_table: Any
) -> None:
    assert failing_table.state == "failed"
    assert failing_table.task_states["clean"] == "failed"
    assert failing_table.task_states["archive"] != "success"
    report = airflow.xcom(DAG_ID, failing_table.run_id, "report", key="report")
    reason = report["failure"]["reason"]
    if "--error-on-cleanup-failure" in compat.db_clean_flags():
        assert "exited" in reason and "log" in reason, reason
    else:
        assert "`airflow db clean` could not clean log" in reason, reason
    kept = _sql(airflow, "SELECT count(*) FROM log WHERE event = 'airflow-ops-test-kept'")[0][0]
    assert kept == 1
