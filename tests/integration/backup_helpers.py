"""Helpers shared by the backup integration tests (real PostgreSQL, moto server over HTTP)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg2

from airflow_ops.backup.dump import BackupRequest
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
