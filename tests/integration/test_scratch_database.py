"""The full restore check's scratch database against a real PostgreSQL: a live check's database is
never taken for abandoned (by this deployment's next check or another's sharing the server), and a
killed check's is dropped by the next one."""

from __future__ import annotations

import psycopg2

from airflow_ops.backup.verify import SCRATCH_PREFIX, create_scratch, drop_abandoned_scratch
from airflow_ops.connections import PostgresTarget
from tests.harness import PostgresServer, wait_for


def _exists(pg: PostgresServer, name: str) -> bool:
    conn = psycopg2.connect(pg.admin_url, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def test_a_live_checks_scratch_database_is_never_dropped_as_abandoned(pg_server: PostgresServer) -> None:
    server = PostgresTarget(**pg_server.target("postgres"))
    ours, other = server.connect(autocommit=True), server.connect(autocommit=True)
    try:
        target, holder = create_scratch(ours, server)
        assert target.dbname.startswith(SCRATCH_PREFIX)
        # Between pg_restore's exit and the count comparison nobody else is connected: the held
        # session is what keeps another check's clean-up away.
        assert target.dbname not in drop_abandoned_scratch(other)
        assert _exists(pg_server, target.dbname)
        holder.close()  # what a killed check leaves: the database, and soon no session on it
        # The server ends the closed session's backend a moment later; the next check comes later still.
        wait_for(
            lambda: target.dbname in drop_abandoned_scratch(other),
            30,
            "the abandoned scratch database dropped",
        )
        assert not _exists(pg_server, target.dbname)
    finally:
        ours.close()
        other.close()
