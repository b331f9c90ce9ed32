"""``airflow db migrate`` of the target release on the scratch database, watched from the side.

While the migration runs, a second session samples ``pg_locks`` and ``pg_stat_activity`` of the
scratch database every :data:`SAMPLE_S` seconds: each table that existed before the migration and
was held in ACCESS EXCLUSIVE mode by the migration's sessions (first seen to last seen), and the
longest statement seen running. Alembic's own ``Running upgrade A -> B`` lines give the revision in
progress, and on a failure the revision that failed.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_ops.connections import PostgresTarget
from airflow_ops.redact import redact

SAMPLE_S = 0.1
#: the migration's sessions carry this application_name (libpq reads PGAPPNAME)
APP_NAME = "airflow-ops-rehearsal-migrate"
_RUNNING = re.compile(r"Running upgrade (?P<src>\w*) -> (?P<dst>\w+)(?:, (?P<what>.*))?")
_DB_ERROR = re.compile(r"(?:psycopg2?|sqlalchemy)\.(?:errors|exc)\.\w+: .*")
_DETAIL = re.compile(r"^DETAIL:\s+(?P<detail>.+)$", re.M)
_SQL = re.compile(r"\[SQL: (?P<sql>.*?)(?:\]|$)", re.S)

_LOCKS_SQL = """
SELECT l.pid, c.relname, a.query_start, a.state, left(a.query, 500)
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.mode = 'AccessExclusiveLock' AND l.granted AND c.relkind IN ('r', 'p')
  AND a.application_name = %s
"""
_ACTIVE_SQL = """
SELECT pid, query_start, now(), left(query, 500) FROM pg_stat_activity
WHERE datname = current_database() AND application_name = %s AND state = 'active'
"""


@dataclass
class TableLock:
    table: str
    first: float
    last: float
    #: how many samples saw it: one sample means held for less than about SAMPLE_S
    samples: int = 1

    @property
    def seconds(self) -> float:
        return round(self.last - self.first, 1)

    def describe(self) -> str:
        return f"{self.seconds:.1f} s" if self.samples > 1 else f"< {SAMPLE_S} s"


@dataclass
class Statement:
    seconds: float
    sql: str


@dataclass
class MigrationResult:
    ok: bool
    seconds: float
    revision_before: str | None
    revision_after: str | None
    #: the ``A -> B`` steps alembic ran, in order (``B`` of the last one failed when ``ok`` is false)
    steps: list[str] = field(default_factory=list)
    locks: list[TableLock] = field(default_factory=list)
    longest: Statement | None = None
    failed_revision: str | None = None
    failed_statement: str | None = None
    error: str | None = None
    #: PostgreSQL's DETAIL line of the error (which object stood in the way)
    detail: str | None = None
    samples: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": self.seconds,
            "revision_before": self.revision_before,
            "revision_after": self.revision_after,
            "migrations_run": len(self.steps),
            "locks": [
                {"table": lock.table, "seconds": lock.seconds, "samples": lock.samples}
                for lock in sorted(self.locks, key=lambda lk: (-lk.seconds, lk.table))
            ],
            "longest_statement": (
                {"seconds": self.longest.seconds, "sql": self.longest.sql} if self.longest else None
            ),
            "failed_revision": self.failed_revision,
            "failed_statement": self.failed_statement,
            "error": self.error,
            "detail": self.detail,
            "lock_samples": self.samples,
            "sample_interval_s": SAMPLE_S,
        }


def alembic_revision(target: PostgresTarget) -> str | None:
    conn = target.connect(autocommit=True, application_name="airflow-ops-rehearsal")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('alembic_version') IS NOT NULL")
            if not cur.fetchone()[0]:
                return None
            cur.execute("SELECT version_num FROM alembic_version")
            row = cur.fetchone()
            return str(row[0]) if row else None
    finally:
        conn.close()


class LockSampler(threading.Thread):
    """Samples the migration's exclusive table locks and running statements until :meth:`stop`."""

    def __init__(self, target: PostgresTarget, tables: set[str]) -> None:
        super().__init__(name="airflow-ops-lock-sampler", daemon=True)
        self.target = target
        self.tables = tables
        self.locks: dict[str, TableLock] = {}
        self.statements: dict[tuple[int, Any], Statement] = {}
        self.samples = 0
        self.error: str | None = None
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)

    def run(self) -> None:
        try:
            conn = self.target.connect(autocommit=True, application_name="airflow-ops-rehearsal-sampler")
        except Exception as exc:  # the report says the locks were not sampled
            self.error = redact(str(exc))
            return
        try:
            with conn.cursor() as cur:
                while not self._halt.is_set():
                    self.sample(cur)
                    self._halt.wait(SAMPLE_S)
        except Exception as exc:
            self.error = redact(str(exc))
        finally:
            conn.close()

    def sample(self, cur: Any) -> None:
        now = time.monotonic()
        cur.execute(_LOCKS_SQL, (APP_NAME,))
        for _pid, table, _start, _state, _query in cur.fetchall():
            if table not in self.tables:
                continue  # created by this migration: nobody else could have been waiting on it
            held = self.locks.get(table)
            if held is None:
                self.locks[table] = TableLock(table, now, now)
            elif held.last != now:  # one count per sample, whatever the number of lock rows
                held.last = now
                held.samples += 1
        cur.execute(_ACTIVE_SQL, (APP_NAME,))
        for pid, started, db_now, query in cur.fetchall():
            if started is None:
                continue
            seconds = round((db_now - started).total_seconds(), 1)
            key = (pid, started)
            seen = self.statements.get(key)
            if seen is None or seconds > seen.seconds:
                self.statements[key] = Statement(seconds, " ".join(str(query).split())[:300])
        self.samples += 1


def user_tables(target: PostgresTarget) -> set[str]:
    conn = target.connect(autocommit=True, application_name="airflow-ops-rehearsal")
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            )
            return {str(r[0]) for r in cur.fetchall()}
    finally:
        conn.close()


def airflow_environ(
    target: PostgresTarget, home: str, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a target-release ``airflow`` command: the deployment's own settings removed
    (no ``AIRFLOW__*``, no ``AIRFLOW_CONFIG``, a fresh ``AIRFLOW_HOME``), the scratch database as its
    metadata DB, its password in ``PGPASSWORD`` (never in a URL or argv)."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith(("AIRFLOW", "PG", "PYTHON", "VIRTUAL_ENV"))
    }
    bare = PostgresTarget(target.host, target.port, target.user, target.dbname, None, target.sslmode)
    env.update(
        {
            "AIRFLOW_HOME": home,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": bare.sqlalchemy_url(),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "PGAPPNAME": APP_NAME,
            "PYTHONUNBUFFERED": "1",
        }
    )
    if target.password:
        env["PGPASSWORD"] = target.password
    if target.sslmode:
        env["PGSSLMODE"] = target.sslmode
    return env


def parse_failure(output: str) -> tuple[str | None, str | None, str | None]:
    """(the database error's first line, the failing statement, PostgreSQL's DETAIL line) from the
    migration's output."""
    error = None
    for line in output.splitlines():
        match = _DB_ERROR.search(line)
        if match:
            error = match.group(0).strip()
            break
    sql = None
    found = _SQL.search(output)
    if found:
        sql = " ".join(found.group("sql").split())[:500]
    if error is None:
        lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
        error = lines[-1] if lines else None
    detail = _DETAIL.search(output)
    return (
        redact(error) if error else None,
        redact(sql) if sql else None,
        redact(detail.group("detail").strip()) if detail else None,
    )


def run_migration(
    airflow: str,
    target: PostgresTarget,
    home: str,
    *,
    progress: Callable[[str], None] = lambda _m: None,
    timeout_s: float = 3600,
) -> tuple[MigrationResult, str]:
    """Run ``airflow db migrate`` on ``target`` while sampling; (result, the command's output)."""
    before = alembic_revision(target)
    sampler = LockSampler(target, user_tables(target))
    sampler.start()
    env = airflow_environ(target, home)
    steps: list[str] = []
    out: list[str] = []
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [airflow, "db", "migrate"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=home,
    )
    assert proc.stdout is not None
    killer = threading.Timer(timeout_s, proc.kill)
    killer.start()
    try:
        for line in proc.stdout:
            out.append(line)
            match = _RUNNING.search(line)
            if match:
                steps.append(f"{match.group('src') or 'base'} -> {match.group('dst')}")
                progress(f"migrating: {match.group('dst')} {(match.group('what') or '').strip()}")
        code = proc.wait()
    finally:
        killer.cancel()
        sampler.stop()
    seconds = round(time.monotonic() - t0, 1)
    output = redact("".join(out))
    result = MigrationResult(
        ok=code == 0,
        seconds=seconds,
        revision_before=before,
        revision_after=alembic_revision(target),
        steps=steps,
        locks=list(sampler.locks.values()),
        longest=max(sampler.statements.values(), key=lambda s: s.seconds, default=None),
        samples=sampler.samples,
    )
    if code != 0:
        result.failed_revision = steps[-1].split(" -> ")[-1] if steps else None
        result.error, result.failed_statement, result.detail = parse_failure(output)
        if code < 0 or not result.error:
            result.error = f"airflow db migrate exited {code}" + (f": {result.error}" if result.error else "")
    return result, output


def check_migrations(airflow: str, target: PostgresTarget, home: str) -> tuple[bool, str]:
    """``airflow db check-migrations`` once (no waiting): are all of the release's migrations applied?"""
    proc = subprocess.run(
        [airflow, "db", "check-migrations", "--migration-wait-timeout", "1"],
        capture_output=True,
        text=True,
        env=airflow_environ(target, home),
        cwd=home,
        timeout=600,
        check=False,
    )
    if proc.returncode == 0:
        return True, "every migration of this release is applied"
    lines = [
        ln.strip()
        for ln in (proc.stdout + proc.stderr).splitlines()
        if ln.strip() and "warning" not in ln.lower()
    ]
    return False, redact(lines[-1] if lines else f"exit {proc.returncode}")
