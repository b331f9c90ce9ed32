"""Helpers shared by the backup integration tests (real PostgreSQL, moto server over HTTP)."""

from __future__ import annotations

import datetime as dt
import os
import signal
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from airflow_ops.backup.dump import BackupRequest, run_backup
from airflow_ops.backup.errors import BackupSourceError
from airflow_ops.backup.layout import BackupLocation
from airflow_ops.connections import PostgresTarget
from tests.harness import PostgresServer

BUCKET = "airflow-ops-backups"


def fill(pg: PostgresServer, dbname: str, rows: int, width_md5: int = 1) -> None:
    """A table ``t`` of ``rows`` rows of hard-to-compress text (``width_md5`` md5 strings per row)."""
    cols = " || ".join(f"md5(random()::text || g || '{i}')" for i in range(width_md5))
    conn = psycopg2.connect(pg.url_for(dbname))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE t AS SELECT g AS id, {cols} AS v FROM generate_series(1, {rows}) g")
        cur.execute("CREATE TABLE small (k text primary key, n int)")
        cur.execute("INSERT INTO small SELECT 'k' || g, g FROM generate_series(1, 50) g")
    conn.close()


def request(
    pg: PostgresServer, dbname: str, prefix: str, when: dt.datetime | None = None, **kw: Any
) -> BackupRequest:
    when = when or dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    return BackupRequest(
        source=PostgresTarget(**pg.target(dbname)),
        location=BackupLocation(BUCKET, prefix, when),
        **kw,
    )


def keys(client: Any, bucket: str, prefix: str) -> list[str]:
    resp = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in resp.get("Contents", []))


def open_uploads(client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    return list(client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", []))


CHUNK = 5 << 20


def kill_backup_pg_dump(dbname: str) -> list[int]:
    """SIGKILL the pg_dump started by run_backup for ``dbname`` (found by argv and environment)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if not argv[0].endswith(b"pg_dump") or not any(a.startswith(b"--snapshot=") for a in argv):
                continue
            if f"PGDATABASE={dbname}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                os.kill(int(proc.name), signal.SIGKILL)
                pids.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return pids


def backup_killed_mid_dump(
    pg: PostgresServer, dbname: str, client: Any, prefix: str
) -> tuple[BackupRequest, BackupSourceError]:
    """Run a backup of a 300k-row DB and SIGKILL its pg_dump once two parts are uploaded."""
    fill(pg, dbname, 300_000, width_md5=2)
    killed: list[int] = []

    def kill_pg_dump(done: int) -> None:
        if done > 2 * CHUNK and not killed:
            killed.extend(kill_backup_pg_dump(dbname))

    req = request(
        pg, dbname, prefix, chunk_bytes=CHUNK, concurrency=1, progress=kill_pg_dump, compression="none"
    )
    with pytest.raises(BackupSourceError) as failed:
        run_backup(client, req)
    assert killed, "pg_dump was not killed: the dump ended before two parts"
    return req, failed.value
