"""ops_metadata_backup under the real scheduler, then a restore of its backup with the CLI."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import pytest

from airflow_ops.backup.catalog import read_manifest
from airflow_ops.backup.dump import count_rows, user_tables
from airflow_ops.backup.pointer import read_latest_verified
from tests.harness import AirflowStack, MotoServer, PostgresServer

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "ops_metadata_backup"
BUCKET = "airflow-ops-backups"
PREFIX = "metadata-backup"
WHEN = dt.datetime(2025, 3, 9, tzinfo=dt.UTC)  # a Sunday: the weekly full restore is due anyway
STAMP = "2025-03-09T000000Z"
SEED = f"seed_{uuid.uuid4().hex[:6]}"
RUNS, TASKS, LOGS, VARIABLES = 300, 10, 5000, 200
PIN_REASON = "roundtrip: kept for the restore test"

T0 = "timestamptz '2024-01-01'"
SEED_SQL = f"""
INSERT INTO dag_run (dag_id, run_id, run_type, state, logical_date, run_after, start_date, end_date,
                     data_interval_start, data_interval_end, conf, clear_number, span_status)
SELECT '{SEED}', 'scheduled__' || g, 'scheduled', 'success',
       {T0} + g * interval '1 hour', {T0} + g * interval '1 hour',
       {T0} + g * interval '1 hour', {T0} + g * interval '1 hour' + interval '5 min',
       {T0} + (g - 1) * interval '1 hour', {T0} + g * interval '1 hour',
       jsonb_build_object('n', g), 0, 'ended'
FROM generate_series(1, {RUNS}) g;
INSERT INTO task_instance (id, task_id, dag_id, run_id, map_index, try_number, max_tries, pool, pool_slots,
                           state, start_date, end_date, duration, hostname, span_status, priority_weight)
SELECT gen_random_uuid(), 'task_' || t, '{SEED}', 'scheduled__' || g, -1, 1, 1, 'default_pool', 1,
       'success', {T0} + g * interval '1 hour', {T0} + g * interval '1 hour' + interval '1 min',
       60, 'worker-' || (g % 4), 'ended', 1
FROM generate_series(1, {RUNS}) g, generate_series(1, {TASKS}) t;
INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp)
SELECT dr.id, ti.task_id, -1, 'return_value', '{SEED}', ti.run_id,
       jsonb_build_object('rows', length(ti.task_id), 'payload', md5(ti.run_id || ti.task_id)), now()
FROM task_instance ti JOIN dag_run dr ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id
WHERE ti.dag_id = '{SEED}';
INSERT INTO log (dttm, dag_id, task_id, map_index, event, run_id, owner, extra, try_number)
SELECT {T0} + g * interval '1 minute', '{SEED}', 'task_' || (g % {TASKS}), -1,
       (ARRAY['running', 'success', 'cli_task_run', 'trigger'])[1 + g % 4], 'scheduled__' || (1 + g % {RUNS}),
       'airflow', md5(g::text), 1
FROM generate_series(1, {LOGS}) g;
INSERT INTO variable (key, val, description, is_encrypted)
SELECT '{SEED}_var_' || g, repeat(md5(g::text), 4), 'seeded', false FROM generate_series(1, {VARIABLES}) g;
"""


# Content checksums of the seeded rows, computed the same way on the source and the restored DB.
def _digest(table: str, columns: str, order: str, where: str) -> str:
    return (
        f"SELECT md5(string_agg(concat_ws('|', {columns}), ',' ORDER BY {order})) FROM {table} WHERE {where}"
    )


CHECKSUMS = {
    "dag_run": _digest("dag_run", "run_id, state, logical_date, conf", "run_id", f"dag_id = '{SEED}'"),
    "task_instance": _digest(
        "task_instance", "id, task_id, run_id, state, start_date, hostname", "id", f"dag_id = '{SEED}'"
    ),
    "xcom": _digest("xcom", "run_id, task_id, value::text", "run_id, task_id", f"dag_id = '{SEED}'"),
    "log": _digest("log", "id, dttm, event, extra", "id", f"dag_id = '{SEED}'"),
    "variable": _digest("variable", "key, val", "key", f"key LIKE '{SEED}%'"),
}


def _connect(stack: AirflowStack) -> Any:
    parts = urlsplit(stack.sql_alchemy_conn.replace("+psycopg2", ""))
    return psycopg2.connect(parts._replace(scheme="postgresql").geturl())


def _checksums(conn: Any) -> dict[str, str]:
    out = {}
    with conn.cursor() as cur:
        for table, sql in CHECKSUMS.items():
            cur.execute(sql)
            out[table] = cur.fetchone()[0]
    return out


@pytest.fixture(scope="module")
def backup_run(airflow: AirflowStack) -> dict[str, Any]:
    conn = _connect(airflow)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(SEED_SQL)
    source_sums = _checksums(conn)
    conn.close()
    run = airflow.run_dag(
        DAG_ID, conf={"force_full_restore": True, "pin": PIN_REASON}, logical_date=WHEN, timeout=300
    )
    return {
        "run": run,
        "report": airflow.xcom(DAG_ID, run.run_id, "report"),
        "verify": airflow.xcom(DAG_ID, run.run_id, "verify"),
        "source_sums": source_sums,
    }


def test_backup_dag_succeeds_under_the_real_scheduler(backup_run: dict[str, Any]) -> None:
    run = backup_run["run"]
    assert run.state == "success", run.log_text()[-4000:]
    assert set(run.task_states.values()) == {"success"}


def test_report_gives_size_checksum_verification_and_fernet_warning(backup_run: dict[str, Any]) -> None:
    report = backup_run["report"]
    summary = report["details"]
    assert summary["object"] == f"s3://{BUCKET}/{PREFIX}/{STAMP}/metadata.dump"
    for field in ("size", "compression ratio", "dump s", "throughput MB/s", "sha256", "retention"):
        assert summary[field] not in (None, "", 0), field
    assert summary["full restore"].startswith("ok (")
    assert summary["compression"] == "gzip:1"  # the config's default
    assert 0 < summary["snapshot held s"] <= summary["dump s"]
    assert report["metrics"]["verified"] is True and report["metrics"]["backup_bytes"] > 0
    assert report["mode"] == "apply" and report["duration_s"] > 0
    assert any("fernet_key_backup is unset" in w for w in report["warnings"])
    # The UI shows the note's first line: the warning must be in it.
    first = (backup_run["run"].note or "").splitlines()[0]
    assert first.startswith("**Metadata DB backup: OK, 1 warning: fernet key not backed up"), first


def test_verified_backup_emits_the_asset_and_moves_the_pointer(
    airflow: AirflowStack, backup_run: dict[str, Any], s3_server: MotoServer
) -> None:
    conn = _connect(airflow)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id"
            " WHERE a.name = 'airflow_ops_metadata_backup_verified' AND e.source_run_id = %s",
            (backup_run["run"].run_id,),
        )
        assert cur.fetchone()[0] == 1
        # The DB cleanup DAG schedules on the asset by name: the event queued a run of it.
        cur.execute(
            "SELECT q.target_dag_id FROM asset_dag_run_queue q JOIN asset a ON a.id = q.asset_id"
            " WHERE a.name = 'airflow_ops_metadata_backup_verified'"
        )
        assert [r[0] for r in cur.fetchall()] == ["ops_db_cleanup"]
    conn.close()
    pointer = read_latest_verified(s3_server.client(), BUCKET, PREFIX)
    assert pointer is not None
    assert pointer.key == f"{PREFIX}/{STAMP}/metadata.dump"
    assert pointer.full_restore_checked is True
    # Issue 14 item 8: the pointer says which database it is a backup of.
    conn = _connect(airflow)
    with conn.cursor() as cur:
        cur.execute("SELECT system_identifier::text, current_database() FROM pg_control_system()")
        sysid, dbname = cur.fetchone()
    conn.close()
    assert pointer.database == {"system_identifier": sysid, "dbname": dbname}


def test_redacted_config_and_package_list_sit_next_to_the_dump_without_secrets(
    airflow: AirflowStack, backup_run: dict[str, Any], s3_server: MotoServer
) -> None:
    client = s3_server.client()
    cfg = (
        client.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{STAMP}/airflow.cfg.redacted")["Body"].read().decode()
    )
    packages = client.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{STAMP}/packages.txt")["Body"].read().decode()
    assert "[core]" in cfg and "fernet_key = <redacted>" in cfg
    for secret in ("fernet_key", "jwt_secret", "api_secret"):
        assert (airflow.home / f".{secret}").read_text() not in cfg
    from airflow_ops.compat import airflow_version

    assert f"apache-airflow-core=={airflow_version()}" in packages.splitlines()
    folder = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/{STAMP}/")["Contents"]
    fernet = (airflow.home / ".fernet_key").read_text().encode()
    for obj in folder:
        assert fernet not in client.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()


@pytest.fixture(scope="module")
def restored(
    backup_run: dict[str, Any], s3_server: MotoServer, pg_server: PostgresServer
) -> Iterator[tuple[str, subprocess.CompletedProcess[str]]]:
    """The runbook's first step: restore the backup into a fresh database with the CLI."""
    dbname = pg_server.create_database("airflow_ops_restored")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "restore_metadata_db.py"),
            "--endpoint-url",
            s3_server.endpoint_url,
            "--backup",
            STAMP,
            "--target-url",
            pg_server.url_for(dbname),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    yield dbname, out
    pg_server.drop_database(dbname)


def test_pin_param_keeps_the_backup_and_the_report_lists_it(
    backup_run: dict[str, Any], s3_server: MotoServer
) -> None:
    """Issue 14 item 7: the `pin` run param pins this run's backup; the report lists every pin."""
    client = s3_server.client()
    pin = client.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{STAMP}/pinned.json")["Body"].read().decode()
    assert PIN_REASON in pin and backup_run["run"].run_id in pin
    details = backup_run["report"]["details"]
    assert details["pinned"].startswith(f"{STAMP} ({PIN_REASON}, by {DAG_ID}/")
    assert ", 1 pinned" in details["retention"]


def test_manifest_records_the_fernet_key_fingerprint_and_restore_prints_it(
    airflow: AirflowStack,
    backup_run: dict[str, Any],
    restored: tuple[str, subprocess.CompletedProcess[str]],
    s3_server: MotoServer,
) -> None:
    from airflow_ops.backup.sidecars import fingerprint

    needed = fingerprint((airflow.home / ".fernet_key").read_text())
    manifest = read_manifest(s3_server.client(), BUCKET, f"{PREFIX}/{STAMP}/manifest.json")
    assert manifest.fernet_fingerprint == needed
    assert backup_run["report"]["details"]["fernet key needed"] == needed
    _, out = restored
    assert f"the restored DB needs the fernet key {needed}" in out.stdout, out.stdout


def test_restore_cli_rebuilds_every_table_with_matching_counts_and_content(
    backup_run: dict[str, Any],
    restored: tuple[str, subprocess.CompletedProcess[str]],
    s3_server: MotoServer,
    pg_server: PostgresServer,
) -> None:
    dbname, out = restored
    assert out.returncode == 0, out.stdout + out.stderr
    manifest = read_manifest(s3_server.client(), BUCKET, f"{PREFIX}/{STAMP}/manifest.json")
    conn = psycopg2.connect(pg_server.url_for(dbname))
    with conn.cursor() as cur:
        counts = count_rows(cur, user_tables(cur))
    assert counts == manifest.table_row_counts
    assert counts["public.task_instance"] >= RUNS * TASKS and counts["public.log"] >= LOGS
    assert _checksums(conn) == backup_run["source_sums"]
    conn.close()


def test_airflow_pointed_at_the_restored_database_sees_the_history(
    airflow: AirflowStack,
    backup_run: dict[str, Any],
    restored: tuple[str, subprocess.CompletedProcess[str]],
    pg_server: PostgresServer,
) -> None:
    """The runbook's next steps: point [database] sql_alchemy_conn at it and use it."""
    dbname, out = restored
    assert out.returncode == 0, out.stderr
    env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_server.sqlalchemy_url(dbname)}
    airflow.airflow("db", "check-migrations", "--migration-wait-timeout", "1", env=env)
    runs = airflow.airflow("dags", "list-runs", DAG_ID, "--output", "plain", env=env)
    assert backup_run["run"].run_id in runs.stdout, runs.stdout[-2000:]
