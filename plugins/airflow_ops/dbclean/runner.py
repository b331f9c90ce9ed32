"""Run ``airflow db clean`` / ``export-archived`` / ``drop-archived`` against an explicit DB URL.

Under task isolation a task inherits ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=airflow-db-not-allowed:///``;
every command here gets the real URL from the ``airflow_metadata_db`` connection in its
environment (never argv), and row counts are read through the same connection.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_ops import compat
from airflow_ops.connections import PostgresTarget
from airflow_ops.dbclean.tables import recency_column
from airflow_ops.exceptions import AirflowOpsError
from airflow_ops.storage import StorageError, put_confirmed, upload_file_confirmed

log = logging.getLogger(__name__)

ARCHIVE_PREFIX = "_airflow_deleted__"
_ARCHIVE_NAME = re.compile(r"^_airflow_deleted__(?P<table>.+?)__\d{14}(?:__b\d+)?$")
_FOUND = re.compile(r"Found (\d+) rows meeting deletion criteria")
_TABLE = re.compile(r"(?:Checking table|Performing dry run for table) (\S+)")


class DbCleanupError(AirflowOpsError):
    """An ``airflow db`` step failed; the message carries the command and the tail of its output."""


def airflow_bin() -> str:
    candidate = Path(sys.executable).parent / "airflow"
    return str(candidate) if candidate.exists() else "airflow"


@dataclass
class DbCli:
    """The ``airflow db`` CLI bound to one metadata DB."""

    target: PostgresTarget
    timeout_s: float = 7200
    commands: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")}
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self.target.sqlalchemy_url()
        return env

    def run(self, *args: str) -> str:
        return self.run_airflow("db", *args)

    def run_airflow(self, *args: str) -> str:
        argv = [airflow_bin(), *args]
        self.commands.append(" ".join(argv[1:]))
        log.info("Running: airflow %s", " ".join(args))
        try:
            proc = subprocess.run(
                argv,
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
                preexec_fn=die_with_parent(),
            )
        except subprocess.TimeoutExpired:
            raise DbCleanupError(
                f"`airflow {' '.join(args)}` did not finish within {self.timeout_s:.0f}s; "
                "lower batch_size/window_days or raise command_timeout_minutes"
            ) from None
        out = proc.stdout + proc.stderr
        if proc.returncode != 0:
            tail = "\n".join(out.strip().splitlines()[-25:])
            raise DbCleanupError(
                f"`airflow {' '.join(args)}` exited {proc.returncode} against {self.target!r}:\n{tail}"
            )
        return out

    def clean(self, cutoff: dt.datetime, tables: list[str], batch_size: int, dry_run: bool) -> dict[str, int]:
        """One ``airflow db clean``; in a dry run, return the rows each table would lose."""
        args = [
            "clean",
            "--clean-before-timestamp",
            cutoff.isoformat(),
            "--tables",
            ",".join(tables),
            "--batch-size",
            str(batch_size),
            "--yes",
        ]
        flag = compat.DB_CLEAN_ERROR_FLAG in compat.db_clean_flags()
        if flag:
            args.append(compat.DB_CLEAN_ERROR_FLAG)
        if dry_run:
            args.append("--dry-run")
        out = self.run(*args)
        if not flag:
            # Without the flag (Airflow 3.1) a table that fails is logged and skipped, and the command
            # exits 0: its own log line is the only trace, so it fails the run here.
            failed = failed_tables(out)
            if failed:
                raise DbCleanupError(
                    f"`airflow db clean` could not clean {', '.join(failed)} against {self.target!r} "
                    "(Airflow logged the error and skipped the table; its log is in this task's log)"
                )
        return parse_found_rows(out)

    def state_store_clean(self, dry_run: bool) -> str | None:
        """``airflow state-store clean`` (3.3+: expired ``task_state_store`` rows); ``None`` without it."""
        if not compat.has_state_store_clean():
            return None
        argv = ["state-store", "clean", *(["--dry-run"] if dry_run else [])]
        return self.run_airflow(*argv)

    def export_archived(self, out_dir: Path) -> list[Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.run("export-archived", "--export-format", "csv", "--output-path", str(out_dir), "--yes")
        return sorted(out_dir.glob("*.csv"))

    def drop_archived(self) -> None:
        self.run("drop-archived", "--yes")


def die_with_parent() -> Any:
    """A ``preexec_fn`` that has the child SIGKILLed when the task process dies (Linux
    ``PR_SET_PDEATHSIG``), or ``None`` where that is not available.

    A task process killed while ``airflow db clean`` / ``export-archived`` / ``drop-archived`` runs
    (SIGKILL, OOM, a lost worker) would otherwise leave the command running on its own, next to the
    retry's. Killed, the command's open transaction rolls back; what it committed is whole batches,
    which the retry finds (rows gone from the source table are in an archive table). ``prctl`` is
    resolved here, in the parent: the forked child only makes the one call.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def child() -> None:
        prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG = 1, SIGKILL = 9

    return child


def failed_tables(output: str) -> list[str]:
    """Tables ``airflow db clean`` logged as failed and skipped (what 3.1 does instead of exiting 1)."""
    pattern = re.compile(re.escape(compat.CLEAN_TABLE_ERROR) + r" '([A-Za-z0-9_]+)'")
    return list(dict.fromkeys(m.group(1) for m in pattern.finditer(output)))


def parse_found_rows(output: str) -> dict[str, int]:
    found: dict[str, int] = {}
    table: str | None = None
    for line in output.splitlines():
        if m := _TABLE.search(line):
            table = m.group(1)
        elif (m := _FOUND.search(line)) and table:
            found[table] = found.get(table, 0) + int(m.group(1))
    return found


# ------------------------------------------------------------------------------------------ SQL
def _connect(target: PostgresTarget) -> Any:
    return target.connect(autocommit=True, application_name="airflow-ops-db-cleanup")


def existing_tables(target: PostgresTarget) -> set[str]:
    with _connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        return {r[0] for r in cur.fetchall()}


def count_rows(target: PostgresTarget, tables: list[str]) -> dict[str, int]:
    from psycopg2 import sql

    present = existing_tables(target)
    out: dict[str, int] = {}
    with _connect(target) as conn, conn.cursor() as cur:
        for table in tables:
            if table in present:
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
                out[table] = int(cur.fetchone()[0])
    return out


def oldest_row(target: PostgresTarget, tables: list[str]) -> dt.datetime | None:
    """The oldest recency value among ``tables`` (what the first window starts from)."""
    from psycopg2 import sql

    present = existing_tables(target)
    oldest: dt.datetime | None = None
    with _connect(target) as conn, conn.cursor() as cur:
        for table in tables:
            if table not in present:
                continue
            cur.execute(
                sql.SQL("SELECT min({}) FROM {}").format(
                    sql.Identifier(recency_column(table)), sql.Identifier(table)
                )
            )
            value = cur.fetchone()[0]
            if isinstance(value, dt.datetime):
                value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
                oldest = value if oldest is None else min(oldest, value)
    return oldest


def archive_tables(target: PostgresTarget) -> dict[str, int]:
    """Archive tables (``_airflow_deleted__*``) -> row count."""
    from psycopg2 import sql

    names = sorted(t for t in existing_tables(target) if t.startswith(ARCHIVE_PREFIX))
    out: dict[str, int] = {}
    with _connect(target) as conn, conn.cursor() as cur:
        for name in names:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name)))
            out[name] = int(cur.fetchone()[0])
    return out


def source_table(archive_table: str) -> str:
    m = _ARCHIVE_NAME.match(archive_table)
    return m.group("table") if m else archive_table


# ------------------------------------------------------------------------------------------ S3
@dataclass(frozen=True)
class UploadedArchive:
    archive_table: str
    key: str
    rows: int
    size_bytes: int
    sha256: str


def upload_exports(
    client: Any, bucket: str, key_prefix: str, files: list[Path], rows: dict[str, int]
) -> list[UploadedArchive]:
    """gzip each CSV, upload it, confirm it with HEAD (size) before returning; then write a manifest."""
    uploaded: list[UploadedArchive] = []
    for path in files:
        table = path.stem
        gz = path.with_suffix(".csv.gz")
        digest = hashlib.sha256()
        with path.open("rb") as src, gzip.open(gz, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        with gz.open("rb") as fh:
            while chunk := fh.read(1024 * 1024):
                digest.update(chunk)
        key = f"{key_prefix}/{table}.csv.gz"
        try:
            size = upload_file_confirmed(client, bucket, key, gz)
        except StorageError as exc:
            raise DbCleanupError(f"{exc}: archive tables were NOT dropped; re-run the task") from None
        uploaded.append(UploadedArchive(table, key, rows.get(table, -1), size, digest.hexdigest()))
        gz.unlink()
    manifest = {
        "format": 1,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "objects": [u.__dict__ for u in uploaded],
    }
    try:
        put_confirmed(
            client,
            bucket,
            f"{key_prefix}/manifest.json",
            json.dumps(manifest, indent=2).encode(),
            "application/json",
        )
    except StorageError as exc:
        raise DbCleanupError(f"{exc}: archive tables were NOT dropped; re-run the task") from None
    return uploaded


#: The private (0700) directory the archive tables are exported into: ``<prefix><pid>-<random>``.
STAGING_PREFIX = "airflow-ops-db-archive-"
_STAGING = re.compile(rf"^{re.escape(STAGING_PREFIX)}(\d+)-")


def remove_abandoned_staging(root: str | None = None) -> list[str]:
    """Remove the export directories of killed tasks: ours (same uid), named after a dead pid.

    A task process killed while it exports (SIGKILL, OOM) cannot remove its directory, which holds
    the purged rows as CSV; the next archive step on that machine does. A live process's directory
    is never touched (a recycled pid only delays the cleanup).
    """
    removed: list[str] = []
    root = root or tempfile.gettempdir()
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        m = _STAGING.match(entry.name)
        if not m or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_uid != os.getuid() or _pid_alive(int(m.group(1))):
                continue
        except OSError:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
    if removed:
        log.warning("Removed %d export directory(ies) of killed tasks: %s", len(removed), ", ".join(removed))
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def export_and_drop(cli: DbCli, client: Any, bucket: str, key_prefix: str) -> dict[str, Any]:
    """Export every archive table to S3, confirm each object, and only then drop the archive tables.

    Refuses to drop when an archive table appeared after the export (it was not uploaded).
    """
    remove_abandoned_staging()
    before = archive_tables(cli.target)
    if not before:
        return {"archive_tables": 0, "objects": [], "dropped": False}
    with tempfile.TemporaryDirectory(prefix=f"{STAGING_PREFIX}{os.getpid()}-") as tmp:
        files = cli.export_archived(Path(tmp))
        exported = {p.stem for p in files}
        missing = set(before) - exported
        if missing:
            raise DbCleanupError(
                f"`airflow db export-archived` did not write {sorted(missing)}; "
                "archive tables were NOT dropped"
            )
        uploaded = upload_exports(client, bucket, key_prefix, files, before)
    now = archive_tables(cli.target)
    unexported = set(now) - {u.archive_table for u in uploaded}
    if unexported:
        raise DbCleanupError(
            f"archive tables {sorted(unexported)} appeared after the export (another `db clean` running?); "
            "nothing was dropped; the next run exports them"
        )
    cli.drop_archived()
    left = archive_tables(cli.target)
    if left:
        raise DbCleanupError(f"`airflow db drop-archived` left {sorted(left)} in place")
    return {
        "archive_tables": len(uploaded),
        "objects": [u.__dict__ for u in uploaded],
        "dropped": True,
    }
