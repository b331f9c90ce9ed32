"""``airflow db clean`` next to a working scheduler: lock waits, throughput and loop duration.

A freshly migrated Airflow DB is seeded, through Airflow's own tables and their constraints, with
``SEED_ROWS`` rows in ``log``, ``job``, ``dag_run``, ``task_instance`` and ``xcom`` (set-based
``INSERT ... SELECT generate_series``, in time order as a DB that grew without cleanup would be),
all older than every retention of the shipped ``config/ops_db_cleanup.yml``. A real Airflow
(scheduler, dag-processor, api-server; LocalExecutor) then runs a steady stream of short DAG runs
(a two-task DAG triggered through the REST API every ``RUN_INTERVAL_S``). After a warm-up the bench
measures ``BEFORE_S`` seconds, then runs the cleanup the way the DAG's ``clean`` and ``archive``
steps do (``dbclean.service.run_clean`` with the shipped config's tables, retentions, windows and
batch size, then ``runner.export_and_drop`` to a moto S3 server) and measures while it runs.

* ``db_clean_max_lock_wait_ms``: the longest continuous lock wait of any Airflow backend (scheduler,
  dag-processor, api-server: they connect as ``application_name`` ``AIRFLOW_APP``) on a lock held
  by a cleanup backend (``airflow db clean`` / export / drop subprocesses and the bundle's own
  queries), directly or through a chain of waiters. ``pg_locks.waitstart`` is sampled every
  ``SAMPLE_S`` (0.1 s), so a wait is seen to within one sample. Goal: <= 1000.
* ``db_clean_throughput_ratio``: task instances of the stream finished per minute during the
  cleanup divided by the same before it. Goal: >= 0.8.
* Supporting figures: ``db_clean_loop_ms_p50/p95_before/during`` (StatsD
  ``scheduler.scheduler_loop_duration``, received on a UDP listener on 127.0.0.1),
  ``db_clean_ti_per_min_before/during``, ``db_clean_max_lock_wait_any_ms_before/during`` (any lock
  wait of an Airflow backend, whoever holds the lock), ``db_clean_rows_seeded``,
  ``db_clean_rows_purged``, ``db_clean_clean_seconds``, ``db_clean_archive_seconds``,
  ``db_clean_windows``, ``db_clean_seed_seconds``, ``db_clean_longest_cleanup_xact_ms`` (the longest
  open transaction of a cleanup backend: how long one batch holds its row locks).

Every sample window (``WINDOW_S``) of both phases is printed with its raw numbers. Run it on a quiet
machine: ``python -m bench --only dbclean_live``. ``AIRFLOW_OPS_BENCH_DBCLEAN_ROWS`` overrides the
seed size (e.g. 200000 while developing).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEED_ROWS = 10_000_000
ROWS_ENV = "AIRFLOW_OPS_BENCH_DBCLEAN_ROWS"
#: The Airflow components' libpq application_name (PGAPPNAME), how the sampler tells their backends.
AIRFLOW_APP = "airflow-bench-component"
#: The cleanup's: the ``airflow db`` subprocesses (PGAPPNAME) and the bundle's own SQL.
CLEANUP_APPS = ("airflow-ops-bench-dbclean", "airflow-ops-db-cleanup")
#: The scheduler loop duration timer, as the StatsD listener receives it (prefix ``airflow``).
LOOP_METRIC = "airflow.scheduler.scheduler_loop_duration"
STREAM_DAG = "bench_dbclean_stream"
STREAM_TASKS = 2
RUN_INTERVAL_S = float(os.environ.get("AIRFLOW_OPS_BENCH_DBCLEAN_RUN_INTERVAL_S", "4"))
WARMUP_S = float(os.environ.get("AIRFLOW_OPS_BENCH_DBCLEAN_WARMUP_S", "45"))
BEFORE_S = float(os.environ.get("AIRFLOW_OPS_BENCH_DBCLEAN_BEFORE_S", "120"))
WINDOW_S = 30.0
SAMPLE_S = 0.1
#: Seeded rows are this old and older (past the shipped 90-day retention) ...
AGE_MIN_DAYS = 100
#: ... spread over this many days (one year of history that was never cleaned).
SPAN_DAYS = 360
SEED_DAGS = 50
TASKS_PER_RUN = 8
LOGS_PER_RUN = 12
JOBS_PER_RUN = 1

STREAM_DAG_FILE = f'''
from airflow.sdk import DAG, task

with DAG("{STREAM_DAG}", schedule=None, catchup=False, max_active_runs=32, tags=["bench"]):

    @task
    def first():
        return 1

    @task
    def second(x):
        return x + 1

    second(first())
'''


def _progress(msg: str) -> None:
    print(f"  [dbclean_live {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ seed
def seed_sizes(total: int) -> dict[str, int]:
    """Rows per table: per DAG run, TASKS_PER_RUN task instances (one XCom each), LOGS_PER_RUN log
    events and JOBS_PER_RUN job rows; at least ``total`` rows in all."""
    per_run = 1 + 2 * TASKS_PER_RUN + LOGS_PER_RUN + JOBS_PER_RUN
    runs = -(-total // per_run)
    return {
        "dag_run": runs,
        "task_instance": runs * TASKS_PER_RUN,
        "xcom": runs * TASKS_PER_RUN,
        "log": runs * LOGS_PER_RUN,
        "job": runs * JOBS_PER_RUN,
    }


def _seed_sql(runs: int) -> list[tuple[str, str]]:
    """(table, statement) in FK order. Row i of a table is ``i/n`` of the way through the span."""
    span = f"interval '{SPAN_DAYS} days'"
    t0 = f"(now() - interval '{AGE_MIN_DAYS + SPAN_DAYS} days')"
    at = f"{t0} + {span} * (i::float8 / {runs})"
    logs = runs * LOGS_PER_RUN
    jobs = runs * JOBS_PER_RUN
    at_log = f"{t0} + {span} * (i::float8 / {logs})"
    at_job = f"{t0} + {span} * (i::float8 / {jobs})"
    return [
        (
            "dag_run",
            "INSERT INTO dag_run (dag_id, run_id, queued_at, logical_date, start_date, end_date, state,"
            " run_type, triggered_by, conf, data_interval_start, data_interval_end, run_after,"
            " last_scheduling_decision, created_at, updated_at, clear_number, span_status)"
            f" SELECT 'bench_old_' || (i % {SEED_DAGS}), 'scheduled__' || to_char(t, 'YYYYMMDD\"T\"HH24MISS')"
            " || '_' || i, t, t, t, t + interval '90 seconds', 'success', 'scheduled', 'timetable',"
            " '{}'::jsonb, t - interval '1 hour', t, t, t + interval '90 seconds', t,"
            " t + interval '90 seconds', 0, 'ended'"
            f" FROM (SELECT i, {at} AS t FROM generate_series(1, {runs}) AS i) s ORDER BY i",
        ),
        (
            "task_instance",
            "INSERT INTO task_instance (id, task_id, dag_id, run_id, map_index, start_date, end_date,"
            " duration, state, try_number, max_tries, hostname, unixname, pool, pool_slots, queue,"
            " priority_weight, operator, queued_dttm, scheduled_dttm, pid, executor_config, updated_at,"
            " span_status)"
            # A uuid7-like id (time ordered, like Airflow's own): millis, version 7, variant, row number.
            " SELECT (lpad(to_hex((extract(epoch FROM dr.start_date) * 1000)::bigint), 12, '0') || '7'"
            " || lpad(to_hex(k), 3, '0') || '8' || lpad(to_hex(dr.id), 15, '0'))::uuid,"
            " 'task_' || k, dr.dag_id, dr.run_id, -1, dr.start_date + k * interval '5 seconds',"
            " dr.start_date + k * interval '5 seconds' + interval '4 seconds', 4.0, 'success', 1, 0,"
            " 'worker-1', 'airflow', 'default_pool', 1, 'default', 1, 'PythonOperator',"
            " dr.start_date, dr.start_date, 4242, NULL,"
            " dr.start_date + k * interval '5 seconds' + interval '4 seconds', 'ended'"
            f" FROM dag_run dr CROSS JOIN generate_series(0, {TASKS_PER_RUN - 1}) AS k"
            " WHERE dr.dag_id LIKE 'bench_old_%' ORDER BY dr.id, k",
        ),
        (
            "xcom",
            "INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp)"
            " SELECT dr.id, ti.task_id, -1, 'return_value', ti.dag_id, ti.run_id,"
            " jsonb_build_object('rows', 1000, 'path', 's3://bucket/' || ti.run_id), ti.end_date"
            " FROM task_instance ti JOIN dag_run dr ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id"
            " WHERE ti.dag_id LIKE 'bench_old_%' ORDER BY dr.id, ti.task_id",
        ),
        (
            "log",
            "INSERT INTO log (dttm, dag_id, task_id, map_index, event, logical_date, run_id, owner,"
            " extra, try_number)"
            f" SELECT t, 'bench_old_' || ((i / {LOGS_PER_RUN}) % {SEED_DAGS}),"
            f" 'task_' || (i % {TASKS_PER_RUN}), -1,"
            " (ARRAY['running', 'success', 'cli_task_run', 'trigger'])[1 + i % 4], t,"
            f" 'scheduled__' || (i / {LOGS_PER_RUN}), 'airflow', '{{\"host_name\": \"worker-1\"}}', 1"
            f" FROM (SELECT i, {at_log} AS t FROM generate_series(1, {logs}) AS i) s ORDER BY i",
        ),
        (
            "job",
            "INSERT INTO job (dag_id, state, job_type, start_date, end_date, latest_heartbeat,"
            " executor_class, hostname, unixname)"
            " SELECT NULL, 'success', (ARRAY['SchedulerJob', 'TriggererJob', 'DagProcessorJob'])[1 + i % 3],"
            " t, t + interval '1 hour', t + interval '1 hour', 'LocalExecutor', 'worker-1', 'airflow'"
            f" FROM (SELECT i, {at_job} AS t FROM generate_series(1, {jobs}) AS i) s ORDER BY i",
        ),
    ]


def _run_seed(dsn: str, statements: list[tuple[str, str]], counts: dict[str, int]) -> None:
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        for table, stmt in statements:
            t0 = time.monotonic()
            cur.execute(stmt)
            counts[table] = cur.rowcount
            _progress(f"seeded {cur.rowcount} {table} rows in {time.monotonic() - t0:.0f}s")
    conn.close()


def seed(dsn: str, total: int) -> dict[str, int]:
    """Seed on two connections: dag_run -> task_instance -> xcom (FK order), and log + job alongside."""
    import psycopg2

    sizes = seed_sizes(total)
    statements = _seed_sql(sizes["dag_run"])
    chain = [s for s in statements if s[0] in ("dag_run", "task_instance", "xcom")]
    side = [s for s in statements if s[0] in ("log", "job")]
    counts: dict[str, int] = {}
    errors: list[BaseException] = []

    def side_seed() -> None:
        try:
            _run_seed(dsn, side, counts)
        except BaseException as exc:
            errors.append(exc)

    helper = threading.Thread(target=side_seed, daemon=True)
    helper.start()
    _run_seed(dsn, chain, counts)
    helper.join()
    if errors:
        raise errors[0]
    t0 = time.monotonic()
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE dag_run, task_instance, xcom, log, job")
        cur.execute("CHECKPOINT")
    conn.close()
    _progress(f"vacuum analyze + checkpoint in {time.monotonic() - t0:.0f}s")
    assert counts == sizes, (counts, sizes)
    return counts


# ------------------------------------------------------------------------------------------ probes
@dataclass
class LockWait:
    pid: int
    app: str
    query: str
    first_seen: float
    last_seen: float
    longest_ms: float
    by_cleanup: bool


_LOCK_SQL = """
SELECT a.pid, a.application_name, l.waitstart, extract(epoch FROM now() - l.waitstart) * 1000,
       pg_blocking_pids(a.pid), left(a.query, 120)
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE NOT l.granted AND l.waitstart IS NOT NULL AND a.datname = %(db)s
"""
_APPS_SQL = """
SELECT pid, application_name, coalesce(extract(epoch FROM now() - xact_start) * 1000, 0),
       state || ': ' || left(query, 100)
FROM pg_stat_activity WHERE datname = %(db)s
"""


@dataclass
class LockSampler:
    """Samples ``pg_locks`` every SAMPLE_S: every lock wait of an Airflow backend, with its length
    (``now() - waitstart``, the wait's own start) and whether a cleanup backend holds it up."""

    dsn: str
    dbname: str
    waits: dict[tuple[int, str], LockWait] = field(default_factory=dict)
    samples: int = 0
    cleanup_seen: int = 0
    #: The longest open transaction of a cleanup backend: how long a batch holds its row locks.
    longest_cleanup_xact_ms: float = 0.0
    longest_cleanup_xact_query: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    error: BaseException | None = None

    def start(self) -> LockSampler:
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def _loop(self) -> None:
        import psycopg2

        try:
            conn = psycopg2.connect(self.dsn, application_name="airflow-ops-bench-sampler")
            conn.autocommit = True
            with conn.cursor() as cur:
                next_at = time.monotonic()
                while not self._stop.is_set():
                    self._sample(cur)
                    next_at += SAMPLE_S
                    time.sleep(max(0.0, next_at - time.monotonic()))
            conn.close()
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def _sample(self, cur: Any) -> None:
        cur.execute(_APPS_SQL, {"db": self.dbname})
        backends = cur.fetchall()
        cleanup = {pid for pid, app, _, _ in backends if app in CLEANUP_APPS}
        for _, app, xact_ms, query in backends:
            if app in CLEANUP_APPS and float(xact_ms) > self.longest_cleanup_xact_ms:
                self.longest_cleanup_xact_ms = float(xact_ms)
                self.longest_cleanup_xact_query = str(query)
        cur.execute(_LOCK_SQL, {"db": self.dbname})
        rows = cur.fetchall()
        now = time.monotonic()
        self.samples += 1
        self.cleanup_seen += bool(cleanup)
        blockers = {pid: set(blocking or ()) for pid, _, _, _, blocking, _ in rows}
        held_up: set[int] = set()
        changed = True
        while changed:  # transitively: waiting on a waiter the cleanup holds up
            changed = False
            for pid, by in blockers.items():
                if pid not in held_up and by & (cleanup | held_up):
                    held_up.add(pid)
                    changed = True
        for pid, app, waitstart, waited_ms, _, query in rows:
            if app != AIRFLOW_APP:
                continue
            key = (pid, str(waitstart))
            wait = self.waits.get(key)
            if wait is None:
                wait = self.waits[key] = LockWait(pid, app, query, now, now, 0.0, False)
            wait.last_seen = now
            wait.longest_ms = max(wait.longest_ms, float(waited_ms))
            wait.by_cleanup = wait.by_cleanup or pid in held_up

    def stop(self) -> None:
        self._stop.set()
        if self.thread:
            self.thread.join(10)
        if self.error:
            raise RuntimeError(f"lock sampler failed: {self.error!r}") from self.error

    def max_wait_ms(self, start: float, end: float, by_cleanup: bool) -> float:
        return max(
            (
                w.longest_ms
                for w in self.waits.values()
                if w.last_seen >= start and w.first_seen <= end and (w.by_cleanup or not by_cleanup)
            ),
            default=0.0,
        )


class Trigger:
    """POSTs a DAG run every RUN_INTERVAL_S (fixed rate, not back-to-back) until stopped."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.triggered = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        api = self.stack.api()
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                api.request("POST", f"/api/v2/dags/{STREAM_DAG}/dagRuns", json={"logical_date": None})
                self.triggered += 1
            except Exception as exc:
                self.errors.append(repr(exc)[:200])
            next_at += RUN_INTERVAL_S
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> Trigger:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(60)


# ------------------------------------------------------------------------------------------ figures
def _pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1)


def _finished(dsn: str, wall_of: Any) -> list[float]:
    """Monotonic times at which the stream's task instances finished (success)."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT extract(epoch FROM end_date) FROM task_instance WHERE dag_id = %s AND state = 'success'",
            (STREAM_DAG,),
        )
        ends = [wall_of(float(r[0])) for r in cur.fetchall()]
    conn.close()
    return ends


def phase_figures(
    name: str,
    start: float,
    end: float,
    ends: list[float],
    loops: list[tuple[float, float]],
    sampler: LockSampler,
) -> dict[str, float]:
    """Print every WINDOW_S window of [start, end) and return the phase's totals."""
    t = start
    while t < end:
        w_end = end if end - t < WINDOW_S + 1 else t + WINDOW_S
        done = sum(t <= e < w_end for e in ends)
        lp = [v for ts, v in loops if t <= ts < w_end]
        print(
            f"  [{name} {t - start:6.0f}-{w_end - start:4.0f}s] ti_finished={done} "
            f"ti_per_min={done * 60 / (w_end - t):.1f} loops={len(lp)} "
            f"loop_ms p50={_pct(lp, 50)} p95={_pct(lp, 95)} max={max(lp, default=0):.0f} "
            f"lock_wait_ms cleanup={sampler.max_wait_ms(t, w_end, True):.0f} "
            f"any={sampler.max_wait_ms(t, w_end, False):.0f}",
            flush=True,
        )
        t = w_end
    done = sum(start <= e < end for e in ends)
    lp = [v for ts, v in loops if start <= ts < end]
    return {
        f"db_clean_ti_per_min_{name}": round(done * 60 / (end - start), 2),
        f"db_clean_loop_ms_p50_{name}": _pct(lp, 50),
        f"db_clean_loop_ms_p95_{name}": _pct(lp, 95),
        f"db_clean_max_lock_wait_any_ms_{name}": round(sampler.max_wait_ms(start, end, False), 1),
        f"db_clean_seconds_{name}": round(end - start, 1),
    }


# ------------------------------------------------------------------------------------------ run
def _cleanup(home: Path, target: Any, client: Any) -> dict[str, Any]:
    """The DAG's clean and archive steps, with the shipped config (what ops_db_cleanup runs)."""
    from airflow_ops.dbclean import runner
    from airflow_ops.dbclean.service import run_clean
    from airflow_ops.kinds.db_cleanup.tasks import clean_settings
    from airflow_ops.registry import load_config_file

    cfg: Any = load_config_file(ROOT / "config" / "ops_db_cleanup.yml")
    # To explore the trade-off: AIRFLOW_OPS_BENCH_DBCLEAN_BATCH_SIZE / _WINDOW_DAYS / _MAX_WINDOWS.
    overrides = {
        key: int(os.environ[f"AIRFLOW_OPS_BENCH_DBCLEAN_{key.upper()}"])
        for key in ("batch_size", "window_days", "max_windows")
        if os.environ.get(f"AIRFLOW_OPS_BENCH_DBCLEAN_{key.upper()}")
    }
    if overrides:
        cfg = cfg.model_copy(update=overrides)
    client.create_bucket(Bucket=cfg.archive_bucket)
    settings = clean_settings(cfg)
    _progress(
        f"cleanup: tables {settings.tables}, batch_size {settings.batch_size}, "
        f"window_days {settings.window_days}, max_windows {settings.max_windows}"
    )
    saved = {k: os.environ.get(k) for k in ("AIRFLOW_HOME", "PGAPPNAME")}
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["PGAPPNAME"] = CLEANUP_APPS[0]
    try:
        t0 = time.monotonic()
        cleaned = run_clean(target, settings, dry_run=False)
        t1 = time.monotonic()
        for inv in cleaned["invocations"]:
            print(f"  [clean] {inv}", flush=True)
        _progress(f"clean done in {t1 - t0:.0f}s; exporting, uploading, dropping the archive tables")
        archived = runner.export_and_drop(
            runner.DbCli(target, timeout_s=cfg.command_timeout_minutes * 60),
            client,
            cfg.archive_bucket,
            f"{cfg.archive_prefix}/bench",
        )
        t2 = time.monotonic()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert archived["dropped"], archived
    return {"cleaned": cleaned, "archived": archived, "clean_s": t1 - t0, "archive_s": t2 - t1}


def run() -> dict[str, float]:
    sys.path[:0] = [str(ROOT / "plugins"), str(ROOT / "tools"), str(ROOT)]
    from airflow_ops.connections import PostgresTarget
    from tests.harness import AirflowStack, MotoServer, PostgresServer, StatsdSink

    rows = int(os.environ.get(ROWS_ENV, SEED_ROWS))
    started = time.monotonic()
    pg = PostgresServer()
    dbname = pg.create_database("airflow_ops_bench_dbclean")
    dsn = pg.url_for(dbname)
    work = Path(tempfile.mkdtemp(prefix="airflow-ops-bench-dbclean-"))
    (work / "dags").mkdir()
    (work / "dags" / f"{STREAM_DAG}.py").write_text(STREAM_DAG_FILE)
    loops: list[tuple[float, float]] = []

    def keep_loop(received_at: float, line: str) -> None:
        name, _, rest = line.partition(":")
        if name == LOOP_METRIC:
            with contextlib.suppress(ValueError):
                loops.append((received_at, float(rest.split("|")[0])))

    statsd = StatsdSink(on_line=keep_loop)
    statsd.thread.start()
    moto = MotoServer().start()
    stack = AirflowStack(
        work / "home",
        pg.sqlalchemy_url(dbname),
        work / "dags",
        None,
        extra_env={
            **statsd.env(),
            "PGAPPNAME": AIRFLOW_APP,
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
        },
    )
    sampler = LockSampler(dsn, dbname)
    trigger: Trigger | None = None
    try:
        t0 = time.monotonic()
        stack.migrate()
        _progress(f"migrated in {time.monotonic() - t0:.0f}s; seeding {rows} rows")
        t0 = time.monotonic()
        seeded = seed(dsn, rows)
        seed_s = time.monotonic() - t0
        _progress(f"seeded {sum(seeded.values())} rows in {seed_s:.0f}s: {seeded}")
        stack.start(("scheduler", "dag-processor", "api-server"))
        stack.wait_for_dags([STREAM_DAG])
        stack.api().request("PATCH", f"/api/v2/dags/{STREAM_DAG}", json={"is_paused": False})
        sampler.start()
        trigger = Trigger(stack).start()
        _progress(f"stack up; stream of one run every {RUN_INTERVAL_S:g}s; warm-up {WARMUP_S:g}s")
        time.sleep(WARMUP_S)
        before_start = time.monotonic()
        time.sleep(BEFORE_S)
        during_start = time.monotonic()
        _progress("before phase done; cleanup starts")
        t = pg.target(dbname)
        target = PostgresTarget(t["host"], t["port"], t["user"], dbname, t["password"])
        result = _cleanup(stack.home, target, moto.client())
        during_end = time.monotonic()
        trigger.stop()
        time.sleep(2)  # the last UDP datagrams
        sampler.stop()
        # end_date is wall clock: map it onto the monotonic clock of the phases.
        offset = time.time() - time.monotonic()
        ends = _finished(dsn, lambda epoch: epoch - offset)
        seen = list(loops)
        out: dict[str, float] = {}
        print(
            f"  stream: {trigger.triggered} runs triggered ({STREAM_TASKS * 60 / RUN_INTERVAL_S:g} "
            f"task instances/min offered), {len(trigger.errors)} trigger errors {trigger.errors[:3]}"
        )
        out.update(phase_figures("before", before_start, during_start, ends, seen, sampler))
        out.update(phase_figures("during", during_start, during_end, ends, seen, sampler))
        for w in sorted(sampler.waits.values(), key=lambda w: -w.longest_ms)[:10]:
            print(
                f"  lock wait {w.longest_ms:.0f} ms pid {w.pid} by_cleanup={w.by_cleanup}: {w.query}",
                flush=True,
            )
        print(
            f"  longest cleanup transaction {sampler.longest_cleanup_xact_ms:.0f} ms, last seen in: "
            f"{sampler.longest_cleanup_xact_query}",
            flush=True,
        )
        cleaned = result["cleaned"]
        before_rate = out["db_clean_ti_per_min_before"]
        out.update(
            {
                "db_clean_max_lock_wait_ms": round(sampler.max_wait_ms(during_start, during_end, True), 1),
                "db_clean_throughput_ratio": round(
                    out["db_clean_ti_per_min_during"] / before_rate if before_rate else float("nan"), 3
                ),
                "db_clean_rows_seeded": float(sum(seeded.values())),
                "db_clean_rows_purged": float(sum(r["rows_purged"] for r in cleaned["tables"])),
                "db_clean_windows": float(len(cleaned["invocations"])),
                "db_clean_clean_seconds": round(result["clean_s"], 1),
                "db_clean_archive_seconds": round(result["archive_s"], 1),
                "db_clean_seed_seconds": round(seed_s, 1),
                "db_clean_lock_samples": float(sampler.samples),
                "db_clean_longest_cleanup_xact_ms": round(sampler.longest_cleanup_xact_ms, 1),
            }
        )
        for r in cleaned["tables"]:
            print(f"  [rows] {r}", flush=True)
        _progress(f"total {time.monotonic() - started:.0f}s")
        return out
    finally:
        if trigger is not None:
            trigger.stop()
        sampler._stop.set()
        stack.stop()
        moto.stop()
        statsd.close()
        pg.drop_database(dbname)
        stack.remove_secrets()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    begun = dt.datetime.now()
    for key, value in run().items():
        print(f"{key} = {value}")
    print(f"({(dt.datetime.now() - begun).total_seconds():.0f}s)")
