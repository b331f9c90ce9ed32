"""Verify a backup: stream it back, check its sha256, read its TOC; optionally restore it for real.

Both passes stream the object (no local copy). The full check restores into a scratch database
created for the purpose, compares every table's row count with the manifest, then drops it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import IO, Any

from airflow_ops.backup.errors import VerificationError
from airflow_ops.backup.manifest import BackupManifest
from airflow_ops.backup.pgtools import PgTool
from airflow_ops.backup.s3io import iter_object
from airflow_ops.connections import PostgresTarget

log = logging.getLogger(__name__)


@dataclass
class VerifyResult:
    sha256_ok: bool
    toc_entries: int
    toc_tables: int
    full_restore: bool = False
    tables_compared: int = 0
    mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.sha256_ok and not self.mismatches


def pipe_chunks(chunks: Iterable[bytes], argv: list[str], env: dict[str, str]) -> tuple[str, int, str, int]:
    """Feed ``chunks`` to ``argv``'s stdin while hashing them.

    Returns (sha256, size, stdout, exit code). When the program stops reading early (``pg_restore
    --list`` only needs the TOC), the rest is still hashed.
    """
    sha = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err, env=env)
        assert proc.stdin is not None
        stdin: IO[bytes] | None = proc.stdin
        try:
            for chunk in chunks:
                sha.update(chunk)
                size += len(chunk)
                if stdin is not None:
                    try:
                        stdin.write(chunk)
                    except BrokenPipeError:
                        stdin = None
            if stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    stdin.close()
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
        out.seek(0)
        err.seek(0)
        text = out.read().decode("utf-8", "replace")
        errors = err.read().decode("utf-8", "replace").strip()
    return sha.hexdigest(), size, text + ("\n" + errors if code and errors else ""), code


def _env(target: PostgresTarget | None) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if target is not None:
        env.update(target.libpq_env())
    return env


def check_archive(client: Any, manifest: BackupManifest, pg_restore: PgTool) -> VerifyResult:
    """Pass 1: sha256 of the object against the manifest, and ``pg_restore --list`` of it."""
    sha, size, listing, code = pipe_chunks(
        iter_object(client, manifest.bucket, manifest.key), [pg_restore.path, "--list"], _env(None)
    )
    where = f"s3://{manifest.bucket}/{manifest.key}"
    if sha != manifest.sha256 or size != manifest.size_bytes:
        raise VerificationError(
            f"{where}: sha256 {sha} / {size} bytes does not match the manifest ({manifest.sha256} / "
            f"{manifest.size_bytes} bytes). The object is corrupt or was replaced: do not rely on it; "
            "re-run the backup for this date."
        )
    if code != 0:
        raise VerificationError(f"{where}: pg_restore --list exited {code}: {listing.strip()[-1000:]}")
    entries = [line for line in listing.splitlines() if line and not line.startswith(";")]
    tables = [line for line in entries if " TABLE DATA " in line]
    if len(tables) < len(manifest.table_row_counts):
        raise VerificationError(
            f"{where}: the archive lists {len(tables)} TABLE DATA entries but the manifest has "
            f"{len(manifest.table_row_counts)} tables"
        )
    return VerifyResult(sha256_ok=True, toc_entries=len(entries), toc_tables=len(tables))


def counted(chunks: Iterable[bytes], progress: Callable[[int], None] | None) -> Iterator[bytes]:
    """``chunks`` unchanged, calling ``progress(bytes so far)`` after each one."""
    done = 0
    for chunk in chunks:
        yield chunk
        done += len(chunk)
        if progress is not None:
            progress(done)


def restore_stream(
    client: Any,
    manifest: BackupManifest,
    pg_restore: PgTool,
    target: PostgresTarget,
    clean: bool = False,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Stream the dump into ``target`` with pg_restore, checking the sha256 on the way;
    ``progress(bytes restored)`` after every chunk fed to pg_restore."""
    argv = [pg_restore.path, "--no-owner", "--no-privileges", "--exit-on-error", "--no-password"]
    argv += ["--clean", "--if-exists"] if clean else []
    argv += ["--dbname", target.dbname]
    sha, _size, output, code = pipe_chunks(
        counted(iter_object(client, manifest.bucket, manifest.key), progress), argv, _env(target)
    )
    if code != 0:
        raise VerificationError(
            f"pg_restore of s3://{manifest.bucket}/{manifest.key} into {target!r} exited {code}: "
            f"{output.strip()[-1500:]}"
        )
    if sha != manifest.sha256:
        raise VerificationError(
            f"s3://{manifest.bucket}/{manifest.key} changed while restoring (sha256 {sha}, manifest "
            f"{manifest.sha256}); the restored database {target!r} must not be used"
        )


def compare_counts(manifest: BackupManifest, target: PostgresTarget) -> dict[str, tuple[int, int]]:
    """Tables whose row count in ``target`` differs from the manifest: name -> (manifest, restored)."""

    from airflow_ops.backup.dump import count_rows, user_tables

    conn = target.connect()
    try:
        cur = conn.cursor()
        tables = user_tables(cur)
        restored = count_rows(cur, tables)
    finally:
        conn.close()
    mismatches: dict[str, tuple[int, int]] = {}
    for table in sorted(set(manifest.table_row_counts) | set(restored)):
        want, got = manifest.table_row_counts.get(table, -1), restored.get(table, -1)
        if want != got:
            mismatches[table] = (want, got)
    return mismatches


SCRATCH_PREFIX = "airflow_ops_restore_check_"


def drop_abandoned_scratch(admin: Any) -> list[str]:
    """Drop the scratch databases of earlier checks that nobody is connected to any more.

    A check whose task process was killed (SIGKILL, OOM, a lost worker) cannot drop its own: the
    next check does. A live check holds a session on its scratch database from creation to drop
    (:func:`create_scratch`), even between pg_restore and the count comparison, so one restoring
    now (of this deployment or of another sharing the server) is never taken for abandoned; and
    ``DROP DATABASE`` without ``FORCE`` refuses one that gains a session meanwhile.
    """
    import psycopg2

    dropped: list[str] = []
    with admin.cursor() as cur:
        cur.execute(
            "SELECT d.datname FROM pg_database d WHERE d.datname LIKE %s"
            " AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
            (SCRATCH_PREFIX.replace("_", "\\_") + "%",),
        )
        for (name,) in cur.fetchall():
            try:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            except psycopg2.Error as exc:
                log.info("Left scratch database %s in place: %s", name, str(exc).strip())
                continue
            dropped.append(name)
    if dropped:
        log.warning("Dropped %d abandoned scratch restore database(s): %s", len(dropped), ", ".join(dropped))
    return dropped


def create_scratch(admin: Any, server: PostgresTarget) -> tuple[PostgresTarget, Any]:
    """A new scratch database on ``server`` and a session held on it (close it before the drop), so
    that :func:`drop_abandoned_scratch` of any other check leaves it alone while this one lives."""
    import psycopg2

    scratch = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        try:
            cur.execute(f'CREATE DATABASE "{scratch}"')
        except psycopg2.Error as exc:
            raise VerificationError(
                f"cannot create the scratch database for the full restore check as {server!r}: "
                f"{str(exc).strip()}. Fix: set restore_check_conn_id to a connection whose role has "
                "CREATEDB (scripts/sql/backup_role.sql), or set full_restore_days: [] to skip the check."
            ) from None
    target = replace(server, dbname=scratch)
    try:
        holder = target.connect(autocommit=True, application_name="airflow-ops-scratch-holder")
    except BaseException:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
        raise
    return target, holder


def full_restore_check(
    client: Any, manifest: BackupManifest, pg_restore: PgTool, server: PostgresTarget
) -> VerifyResult:
    """Pass 2: restore into a scratch database on ``server``, compare row counts, drop it."""

    admin = server.connect(autocommit=True)
    try:
        drop_abandoned_scratch(admin)
        target, holder = create_scratch(admin, server)
        scratch = target.dbname
        try:
            restore_stream(client, manifest, pg_restore, target)
            mismatches = compare_counts(manifest, target)
        finally:
            holder.close()
            with admin.cursor() as cur:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (scratch,)
                )
                cur.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
    finally:
        admin.close()
    log.info(
        "Scratch restore compared %d tables, %d mismatches", len(manifest.table_row_counts), len(mismatches)
    )
    return VerifyResult(
        sha256_ok=True,
        toc_entries=0,
        toc_tables=0,
        full_restore=True,
        tables_compared=len(manifest.table_row_counts),
        mismatches=mismatches,
    )


def check_manifest(client: Any, manifest: BackupManifest) -> None:
    """The stored ``manifest.json`` is a sidecar the restore relies on: it must read back (sha256
    checked) exactly as the backup step wrote it."""
    from dataclasses import asdict

    from airflow_ops.backup.catalog import read_manifest

    key = f"{manifest.key.rsplit('/', 1)[0]}/manifest.json"
    try:
        stored = read_manifest(client, manifest.bucket, key)
    except VerificationError:
        raise
    except Exception as exc:
        raise VerificationError(f"{exc}; re-run the backup for this date") from None
    if asdict(stored) != asdict(manifest):
        raise VerificationError(
            f"s3://{manifest.bucket}/{key} differs from the manifest the backup step produced: do not rely "
            "on this backup; re-run the backup for this date"
        )


def verify_backup(
    client: Any,
    manifest: BackupManifest,
    prefix: str,
    pg_bin_dirs: list[str],
    scratch_server: PostgresTarget | None,
) -> dict[str, Any]:
    """Both passes (the full restore when ``scratch_server`` is given), then move the pointer.

    Returns what the report shows: TOC counts, the full-restore verdict, whether the pointer moved.
    """
    import datetime as dt

    from airflow_ops.backup.pgtools import select_tool
    from airflow_ops.backup.pointer import mark_verified

    pg_restore = select_tool("pg_restore", manifest.pg_restore_major, pg_bin_dirs)
    check_manifest(client, manifest)
    result = check_archive(client, manifest, pg_restore)
    out: dict[str, Any] = {
        "sha256_ok": True,
        "toc_entries": result.toc_entries,
        "toc_tables": result.toc_tables,
        "full_restore": "not due",
    }
    if scratch_server is not None:
        full = full_restore_check(client, manifest, pg_restore, scratch_server)
        if full.mismatches:
            shown = ", ".join(
                f"{t}: {a} in dump vs {b} restored" for t, (a, b) in list(full.mismatches.items())[:5]
            )
            raise VerificationError(
                f"scratch restore of s3://{manifest.bucket}/{manifest.key}: row counts differ for "
                f"{len(full.mismatches)} table(s): {shown}"
            )
        out["full_restore"] = f"ok ({full.tables_compared} tables match)"
    verified_at = dt.datetime.now(dt.UTC).isoformat()
    out["pointer_moved"] = mark_verified(
        client, manifest, prefix, verified_at, full_restore_checked=scratch_server is not None
    )
    out["verified_at"] = verified_at
    return out
