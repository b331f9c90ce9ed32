"""A backup taken while a writer keeps inserting and updating rows restores to exactly its manifest.

The manifest's row counts come from the dump's own snapshot (pg_dump ``--snapshot`` of the
REPEATABLE READ transaction that counted them), so writes during the dump change neither.
"""

from __future__ import annotations

import threading
import time
import uuid

import psycopg2

from airflow_ops.backup.catalog import list_backups
from airflow_ops.backup.dump import DEFAULT_PG_BIN_DIRS, run_backup
from airflow_ops.backup.restore import restore_backup
from airflow_ops.connections import PostgresTarget
from tests.harness import MotoServer, PostgresServer
from tests.integration.backup_helpers import BUCKET, fill, request


class Writer(threading.Thread):
    """Inserts into ``t`` and updates ``small`` in autocommit until stopped; counts its writes."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.writes = 0

    def run(self) -> None:
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        with conn.cursor() as cur:
            while not self.stop.is_set():
                cur.execute("INSERT INTO t SELECT max(id) + 1, md5(random()::text) FROM t")
                cur.execute("UPDATE small SET n = n + 1 WHERE k = 'k1'")
                cur.execute("INSERT INTO small VALUES (%s, 0)", (uuid.uuid4().hex,))
                self.writes += 3
        conn.close()


def test_a_backup_under_writes_restores_to_its_manifest_counts(
    pg_server: PostgresServer, scratch_db: str, s3_server: MotoServer
) -> None:
    fill(pg_server, scratch_db, 200_000, width_md5=2)
    writer = Writer(pg_server.url_for(scratch_db))
    writer.start()
    try:
        time.sleep(0.5)
        before = writer.writes
        prefix = f"consistency-{uuid.uuid4().hex[:8]}"
        manifest = run_backup(s3_server.client(), request(pg_server, scratch_db, prefix))
        during = writer.writes - before
    finally:
        writer.stop.set()
        writer.join(timeout=30)
    assert during > 0, "the writer must have written while the dump ran"
    target_db = pg_server.create_database("airflow_ops_consistency_restore")
    try:
        [backup] = list_backups(s3_server.client(), BUCKET, prefix)
        plan = restore_backup(
            s3_server.client(),
            BUCKET,
            backup,
            PostgresTarget(**pg_server.target(target_db)),
            pg_bin_dirs=list(DEFAULT_PG_BIN_DIRS),
        )
        assert plan.restored and plan.mismatches == {}
        live = psycopg2.connect(pg_server.url_for(scratch_db))
        with live.cursor() as cur:
            cur.execute("SELECT count(*) FROM t")
            now_rows = cur.fetchone()[0]  # type: ignore[index]
        live.close()
        assert manifest.table_row_counts["public.t"] < now_rows  # rows written after the snapshot
    finally:
        pg_server.drop_database(target_db)
