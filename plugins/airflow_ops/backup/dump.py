"""Take one backup: pg_dump (custom format) piped straight into an S3 multipart upload.

Consistency: a REPEATABLE READ transaction exports a snapshot; pg_dump runs with
``--snapshot`` and the per-table row counts of the manifest are taken in the same snapshot, so
the counts describe exactly what is in the dump even while the scheduler keeps writing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_ops.backup.errors import BackupError, BackupSourceError
from airflow_ops.backup.layout import BackupLocation
from airflow_ops.backup.manifest import BackupManifest
from airflow_ops.backup.pgtools import PgTool, select_tool
from airflow_ops.backup.s3io import (
    HashingReader,
    abort_dangling_uploads,
    check_bucket,
    put_bytes,
    stream_upload,
)
from airflow_ops.connections import PostgresTarget
from airflow_ops.storage import sse_args

log = logging.getLogger(__name__)

DEFAULT_PG_BIN_DIRS = ["/usr/lib/postgresql/*/bin", "/usr/local/bin", "/usr/bin"]


@dataclass
class BackupRequest:
    source: PostgresTarget
    location: BackupLocation
    dag_id: str = "ops_metadata_backup"
    source_conn_id: str = "airflow_metadata_db"
    pg_bin_dirs: list[str] = field(default_factory=lambda: list(DEFAULT_PG_BIN_DIRS))
    #: pg_dump ``--compress`` as ``method[:level]`` (airflow_ops.backup.compression); None: pg_dump's default
    compression: str | None = None
    chunk_bytes: int = 8 << 20
    concurrency: int = 2
    sse: str = "none"
    kms_key_id: str | None = None
    airflow_version: str = "unknown"
    #: ``sha256:...`` of the worker's fernet key: which key the restored DB's secrets need.
    fernet_fingerprint: str | None = None
    #: Called with the bytes dumped so far after every part-sized read.
    progress: Callable[[int], None] | None = None


def connect(target: PostgresTarget, conn_id: str, purpose: str = "dump") -> Any:
    """psycopg2 connection; failures name the connection and role, never the password."""
    from airflow_ops.connections import DatabaseConnectError

    try:
        return target.connect(application_name="airflow-ops-backup")
    except DatabaseConnectError as exc:
        reason = exc.reason
        raise BackupSourceError(
            f"cannot connect to the metadata DB to {purpose} through connection {conn_id!r} "
            f"({target!r}): {reason}. Fix: check host, port, login and password of {conn_id!r}; "
            "the role needs CONNECT and pg_read_all_data (scripts/sql/backup_role.sql)."
        ) from None


def server_info(cur: Any) -> tuple[int, str]:
    cur.execute("SHOW server_version_num")
    num = int(cur.fetchone()[0])
    cur.execute("SHOW server_version")
    return num // 10000, str(cur.fetchone()[0]).split()[0]


def user_tables(cur: Any) -> list[str]:
    cur.execute(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables"
        " WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
    )
    return [r[0] for r in cur.fetchall()]


def count_rows(cur: Any, tables: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in tables:
        cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - identifiers quoted by quote_ident
        counts[table] = int(cur.fetchone()[0])
    return counts


def alembic_revision(cur: Any) -> str | None:
    cur.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL")
    if not cur.fetchone()[0]:
        return None
    cur.execute("SELECT version_num FROM alembic_version LIMIT 1")
    row = cur.fetchone()
    return str(row[0]) if row else None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run_backup(
    client: Any, req: BackupRequest, cleanup_client: Callable[[], Any] | None = None
) -> BackupManifest:
    """Dump ``req.source`` into ``req.location``; write the manifest; return it.

    Nothing is written at the dump key unless the whole dump succeeded and uploaded.
    """
    loc = req.location
    started = _utcnow()
    t0 = time.monotonic()
    check_bucket(client, loc.bucket)
    conn = connect(req.source, req.source_conn_id)
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        cur = conn.cursor()
        major, server_version = server_info(cur)
        pg_dump = select_tool("pg_dump", major, req.pg_bin_dirs)
        cur.execute("SELECT pg_export_snapshot(), pg_database_size(current_database())")
        snapshot, db_size = cur.fetchone()
        snapshot_t0 = time.monotonic()
        tables = user_tables(cur)
        revision = alembic_revision(cur)
        from airflow_ops.backup.identity import database_identity

        identity = database_identity(cur)
        abort_dangling_uploads(client, loc.bucket, loc.dump_key, prefix=loc.prefix)
        # A re-run of a verified date is unverified from before its new dump lands: a kill between
        # the upload and verify must leave neither the pointer nor a verified.json naming a dump
        # they never saw.
        from airflow_ops.backup.pointer import unpoint_folder

        unpoint_folder(client, loc.bucket, loc.prefix, loc.folder)
        client.delete_object(Bucket=loc.bucket, Key=loc.verified_key)
        counts: dict[str, int] = {}
        count_errors: list[BaseException] = []

        def _count() -> None:
            try:
                counts.update(count_rows(cur, tables))
            except BaseException as exc:  # surfaced after the upload
                count_errors.append(exc)

        log.info("Dumping %r with %s (%s) to %s", req.source, pg_dump.path, pg_dump.version, loc.url())
        with tempfile.TemporaryFile() as stderr:
            proc = subprocess.Popen(
                _dump_argv(pg_dump, snapshot, req.compression),
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=_pg_env(req.source),
            )
            assert proc.stdout is not None
            _widen_pipe(proc.stdout.fileno())
            # Counting overlaps the dump: the same snapshot, another backend.
            counter = threading.Thread(target=_count, name="row-counts", daemon=True)
            counter.start()
            reader = HashingReader(
                proc.stdout,
                on_eof=lambda: _check_exit(proc, stderr, req),
                on_read=req.progress or _log_progress(),
            )
            try:
                result = stream_upload(
                    client,
                    reader,
                    loc.bucket,
                    loc.dump_key,
                    chunk_bytes=req.chunk_bytes,
                    concurrency=req.concurrency,
                    extra_args=sse_args(req.sse, req.kms_key_id),
                    cleanup_client=cleanup_client,
                )
            except BaseException:
                _stop(proc)
                raise
            finally:
                proc.stdout.close()
            counter.join()
        if count_errors:
            raise BackupSourceError(f"counting rows for the manifest failed: {count_errors[0]}")
    finally:
        conn.close()
    snapshot_seconds = round(time.monotonic() - snapshot_t0, 3)
    finished = _utcnow()
    manifest = BackupManifest(
        dag_id=req.dag_id,
        logical_date=loc.when.isoformat(),
        bucket=loc.bucket,
        key=loc.dump_key,
        size_bytes=result.size_bytes,
        sha256=result.sha256,
        db_size_bytes=int(db_size),
        server_version=server_version,
        pg_dump_version=pg_dump.version,
        airflow_version=req.airflow_version,
        alembic_revision=revision,
        table_row_counts=counts,
        started_at=started.isoformat(),
        finished_at=finished.isoformat(),
        duration_seconds=round(time.monotonic() - t0, 3),
        sse=req.sse,
        parts_chunk_bytes=req.chunk_bytes,
        fernet_fingerprint=req.fernet_fingerprint,
        database=dict(identity),
        compression=req.compression,
        snapshot_seconds=snapshot_seconds,
    )
    put_bytes(
        client,
        loc.bucket,
        loc.manifest_key,
        manifest.to_json(),
        "application/json",
        sse_args(req.sse, req.kms_key_id),
    )
    log.info("Uploaded %s (%d bytes, sha256 %s)", loc.url(), manifest.size_bytes, manifest.sha256)
    return manifest


def _widen_pipe(fd: int, size: int = 1 << 20) -> None:
    """Let pg_dump run ahead of short upload hiccups (Linux pipes hold 64 KiB by default)."""
    import fcntl

    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)


def _log_progress(every: int = 1 << 30) -> Callable[[int], None]:
    state = {"next": every}

    def report(done: int) -> None:
        if done >= state["next"]:
            log.info("... %.1f GB dumped and uploaded", done / 1e9)
            state["next"] += every

    return report


def _dump_argv(pg_dump: PgTool, snapshot: str, compression: str | None) -> list[str]:
    from airflow_ops.backup.compression import pg_dump_flag

    argv = [pg_dump.path, "--format=custom", "--no-password", f"--snapshot={snapshot}"]
    return argv + pg_dump_flag(compression, pg_dump.major, pg_dump.version)


def _pg_env(target: PostgresTarget) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(target.libpq_env())
    env["PGAPPNAME"] = "airflow-ops-pg_dump"
    return env


def _check_exit(proc: subprocess.Popen[bytes], stderr: Any, req: BackupRequest) -> None:
    code = proc.wait()
    if code != 0:
        stderr.seek(0)
        text = stderr.read().decode("utf-8", "replace").strip()[-1500:]
        raise BackupSourceError(
            f"pg_dump of {req.source!r} (connection {req.source_conn_id!r}) exited {code}: {text}. "
            "Nothing was written at the backup key. Fix: see the pg_dump message above; the role needs "
            "pg_read_all_data (scripts/sql/backup_role.sql)."
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired as exc:  # pragma: no cover - kill does not hang
        raise BackupError(f"pg_dump (pid {proc.pid}) did not exit after SIGKILL") from exc
