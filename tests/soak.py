"""``make soak``: the whole bundle under the real scheduler on compressed schedules (issue 13, part 6).

One real Airflow (scheduler, dag-processor, triggerer, api-server; LocalExecutor) runs every DAG of
``config/`` regenerated with the schedules of :data:`SCHEDULES`, against a moto S3 server and a real
alert sink, for ``--minutes`` (30 by default; ``tests/integration/test_soak.py`` runs 3). Meanwhile
two writers grow what the maintenance DAGs exist to keep bounded: rows in Airflow's own ``log``
table and task log files, both older than the shipped retention. At the end it checks:

- zero failed DAG runs, and every DAG ran;
- flat RSS of every Airflow component and of the task processes (the soak's first fifth vs its
  last fifth, medians of 15-second samples);
- the history the writers aged past retention was purged: what is left of it is at most what was
  written after the last cleanup run started (the metadata DB size is reported first vs last);
- every backup in the bucket verified.

The figures (and every problem found) are printed and written as JSON to ``--output``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from airflow_ops_tools.generator import render_all
from tests.harness import AirflowStack, AlertSink, MotoServer, PostgresServer, airflow_stack, demo_env

ROOT = Path(__file__).resolve().parents[1]
BUCKETS = ("airflow-ops-backups", "airflow-ops-exports", "airflow-ops-archive", "airflow-ops-logs")
#: Compressed schedules: cron's finest step (every minute) for the probe, every few minutes for the
#: rest; the DB cleanup keeps its shipped schedule, the backup's Asset (it runs after every backup).
SCHEDULES = {
    "ops_health_probe": "* * * * *",
    "ops_metadata_backup": "*/3 * * * *",
    "ops_config_export": "*/4 * * * *",
    "ops_log_cleanup": "*/2 * * * *",
}
BACKUP = "ops_metadata_backup"
DB_CLEANUP = "ops_db_cleanup"
LOG_CLEANUP = "ops_log_cleanup"
#: Older than every shipped retention (log rows 30 days, log files 30 days).
AGED = dt.timedelta(days=40)
SAMPLE_SECONDS = 15.0
#: An RSS is flat when its last-fifth median is within this of its first-fifth median.
RSS_GROWTH_FACTOR, RSS_GROWTH_SLACK_MB = 1.25, 50.0


@dataclass
class Writers:
    """Aged ``log`` rows and aged task log files, written in batches until stopped."""

    dsn: str
    log_root: Path
    rows_per_batch: int = 500
    files_per_batch: int = 20
    interval: float = 10.0
    #: (time written, rows) and (time written, files), in order
    row_batches: list[tuple[float, int]] = field(default_factory=list)
    file_batches: list[tuple[float, list[Path]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: BaseException | None = None

    def start(self) -> Writers:
        self._thread = threading.Thread(target=self._loop, name="soak-writers", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def _loop(self) -> None:
        import os

        import psycopg2

        try:
            conn = psycopg2.connect(self.dsn)
            conn.autocommit = True
            batch = 0
            while not self._stop.is_set():
                aged = dt.datetime.now(dt.UTC) - AGED
                with conn.cursor() as cur:
                    cur.execute(
                        "INSERT INTO log (dttm, event, owner, extra) "
                        "SELECT %s, 'soak_history', 'soak', 'row ' || g FROM generate_series(1, %s) g",
                        (aged, self.rows_per_batch),
                    )
                self.row_batches.append((time.time(), self.rows_per_batch))
                files = []
                stamp = aged.timestamp()
                for i in range(self.files_per_batch):
                    path = (
                        self.log_root
                        / "dag_id=soak_history"
                        / f"run_id=b{batch}"
                        / f"task_id=t{i}"
                        / "attempt=1.log"
                    )
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(f"soak history batch {batch} file {i}\n" * 50)
                    os.utime(path, (stamp, stamp))
                    files.append(path)
                self.file_batches.append((time.time(), files))
                batch += 1
                self._stop.wait(self.interval)
            conn.close()
        except BaseException as exc:  # reported by check(); the soak must not die silently
            self.error = exc


@dataclass
class RssSampler:
    """RSS of every Airflow component (its process and children; the scheduler's own process only:
    its children are the executor's) and of the largest task process, every ``interval`` seconds."""

    stack: AirflowStack
    interval: float = SAMPLE_SECONDS
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RssSampler:
        self._thread = threading.Thread(target=self._loop, name="soak-rss", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def sample(self) -> dict[str, float]:
        import psutil

        mb = 1024 * 1024
        out: dict[str, float] = {}
        for name, proc in list(self.stack.procs.items()):
            try:
                main = psutil.Process(proc.pid)
                children = main.children(recursive=True)
                if name == "scheduler":
                    out[name] = main.memory_info().rss / mb
                    tasks = [c.memory_info().rss / mb for c in children if _is_task(c)]
                    if tasks:
                        out["task_process"] = max(tasks)
                else:
                    out[name] = sum(p.memory_info().rss for p in [main, *children]) / mb
            except psutil.Error:
                continue
        return out

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self.sample()))
            self._stop.wait(self.interval)

    def first_last(self) -> dict[str, dict[str, float]]:
        """Per process: the median of the first fifth of the samples and of the last fifth."""
        fifth = max(1, len(self.samples) // 5)
        out = {}
        for name in sorted({k for _, s in self.samples for k in s}):
            series = [s[name] for _, s in self.samples if name in s]
            if len(series) < 2:
                continue
            part = max(1, min(fifth, len(series) // 2))
            out[name] = {
                "first_mb": round(statistics.median(series[:part]), 1),
                "last_mb": round(statistics.median(series[-part:]), 1),
                "samples": len(series),
            }
        return out


def _is_task(proc: Any) -> bool:
    """A task process: the task runner titles itself ``airflow worker -- <task instance id>``
    (its supervisor is ``airflow supervisor: ...``, the executor's workers ``... <idle>``)."""
    try:
        return " ".join(proc.cmdline()).startswith("airflow worker -- ")
    except Exception:
        return False


def soak_dags(folder: Path) -> Path:
    """config/ rendered into ``folder/dags`` with the soak's schedules."""
    config_dir, dags_dir = folder / "config", folder / "dags"
    config_dir.mkdir(parents=True)
    dags_dir.mkdir()
    for path in sorted((ROOT / "config").glob("*.yml")):
        raw = yaml.safe_load(path.read_text())
        if raw["dag_id"] in SCHEDULES:
            raw["schedule"] = SCHEDULES[raw["dag_id"]]
        raw["retry_delay_minutes"] = 1
        (config_dir / path.name).write_text(yaml.safe_dump(raw))
    for rendered in render_all(config_dir, dags_dir, folder):
        rendered.dag_path.write_text(rendered.text)
    return dags_dir


def _runs(stack: AirflowStack) -> list[dict[str, Any]]:
    body = stack.api().get("/api/v2/dags/~/dagRuns", params={"limit": 1000, "order_by": "start_date"})
    return list(body["dag_runs"])


def _set_paused(stack: AirflowStack, dag_ids: list[str], paused: bool) -> None:
    for dag_id in dag_ids:
        stack.api().request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": paused})


def _wind_down(stack: AirflowStack, dag_ids: list[str], timeout: float) -> None:
    """Pause every DAG without stranding a run: the scheduler does not schedule the next task of a
    paused DAG's running run, so a DAG is paused only once it has no active run (and unpaused again
    when a run slipped in before the pause)."""
    deadline = time.monotonic() + timeout
    paused: set[str] = set()
    while time.monotonic() < deadline:
        active = {r["dag_id"] for r in _runs(stack) if r["state"] in ("queued", "running")}
        if not active and paused == set(dag_ids):
            return
        for dag_id in dag_ids:
            if dag_id in active and dag_id in paused:
                _set_paused(stack, [dag_id], False)
                paused.discard(dag_id)
            elif dag_id not in active and dag_id not in paused:
                _set_paused(stack, [dag_id], True)
                paused.add(dag_id)
        time.sleep(3)
    raise TimeoutError(f"runs still active {timeout:.0f}s after the soak ended: {sorted(active)}")


def _db_size_mb(dsn: str) -> float:
    import psycopg2

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_database_size(current_database())")
        return round(int(cur.fetchone()[0]) / 1024 / 1024, 1)


def _aged_rows_left(dsn: str) -> int:
    import psycopg2

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM log WHERE event = 'soak_history'")
        return int(cur.fetchone()[0])


def _last_start(runs: list[dict[str, Any]], dag_id: str) -> float | None:
    starts = [
        dt.datetime.fromisoformat(r["start_date"]).timestamp()
        for r in runs
        if r["dag_id"] == dag_id and r["state"] == "success" and r.get("start_date")
    ]
    return max(starts) if starts else None


def check(
    runs: list[dict[str, Any]],
    dag_ids: list[str],
    rss: dict[str, dict[str, float]],
    writers: Writers,
    aged_rows_left: int,
    aged_files_left: int,
    backups: list[Any],
) -> list[str]:
    """Every way the soak failed, one line each (empty: it passed)."""
    problems = []
    if writers.error is not None:
        problems.append(f"the history writers died: {writers.error!r}")
    failed = [f"{r['dag_id']}/{r['dag_run_id']}" for r in runs if r["state"] != "success"]
    if failed:
        problems.append(f"{len(failed)} runs did not succeed: {', '.join(failed)}")
    never = sorted(set(dag_ids) - {r["dag_id"] for r in runs if r["state"] == "success"})
    if never:
        problems.append(f"never succeeded: {', '.join(never)}")
    for name, fig in rss.items():
        limit = fig["first_mb"] * RSS_GROWTH_FACTOR + RSS_GROWTH_SLACK_MB
        if fig["last_mb"] > limit:
            problems.append(f"RSS of {name} grew from {fig['first_mb']} MB to {fig['last_mb']} MB")
    for what, left, batches, dag_id in (
        ("log rows", aged_rows_left, [(t, n) for t, n in writers.row_batches], DB_CLEANUP),
        ("log files", aged_files_left, [(t, len(f)) for t, f in writers.file_batches], LOG_CLEANUP),
    ):
        since = _last_start(runs, dag_id)
        if since is None:
            continue  # reported as "never succeeded"
        allowed = sum(n for t, n in batches if t >= since)
        if left > allowed:
            problems.append(
                f"{left} aged {what} left but only {allowed} were written after the last {dag_id} run "
                "started: cleanup does not keep up"
            )
    unverified = [b.folder for b in backups if not b.verified]
    if not backups:
        problems.append("no backup in the bucket")
    if unverified:
        problems.append(f"unverified backups: {', '.join(unverified)}")
    return problems


def run_soak(minutes: float, workdir: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the soak; return its figures, ``problems`` among them (empty when it passed)."""
    from airflow_ops.backup.catalog import list_backups

    pg, s3, sink = PostgresServer(), MotoServer().start(), AlertSink().start()
    try:
        for bucket in BUCKETS:
            s3.client().create_bucket(Bucket=bucket)
        dags_dir = soak_dags(workdir)
        dag_ids = sorted(p.stem for p in dags_dir.glob("*.py"))
        env = {
            **demo_env(s3, sink),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # The harness turns the schedules off for the other tests; the soak is about them.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True",
        }
        with airflow_stack(workdir / "home", pg, dags_dir, ROOT / "plugins", extra_env=env) as stack:
            dsn = stack.sql_alchemy_conn.replace("+psycopg2", "")
            stack.wait_for_dags(dag_ids)
            # The probe checks the backup's age, and the cleanup needs a verified backup: back up first.
            first = stack.run_dag(BACKUP, timeout=600)
            if first.state != "success":
                raise RuntimeError(f"the first backup failed:\n{first.log_text()[-3000:]}")
            _set_paused(stack, dag_ids, False)
            writers = Writers(dsn, stack.home / "logs").start()
            sampler = RssSampler(stack).start()
            size_first = _db_size_mb(dsn)
            log(f"soak: {len(dag_ids)} DAGs unpaused for {minutes:g} min (UI {stack.base_url})")
            started = time.monotonic()
            while time.monotonic() - started < minutes * 60:
                time.sleep(min(30.0, minutes * 60 - (time.monotonic() - started) + 0.1))
                done = [r for r in _runs(stack) if r["state"] in ("success", "failed")]
                log(f"soak: {time.monotonic() - started:5.0f}s, {len(done)} runs finished")
            writers.stop()
            sampler.stop()
            _wind_down(stack, dag_ids, timeout=600)
            runs = _runs(stack)
            rss = sampler.first_last()
            aged_rows_left = _aged_rows_left(dsn)
            aged_files_left = sum(p.exists() for _, files in writers.file_batches for p in files)
            backups = list_backups(s3.client(), "airflow-ops-backups", "metadata-backup")
            per_dag = {
                dag_id: {
                    state: sum(r["dag_id"] == dag_id and r["state"] == state for r in runs)
                    for state in ("success", "failed")
                }
                for dag_id in dag_ids
            }
            result = {
                "minutes": minutes,
                "runs": per_dag,
                "rss": rss,
                "db_size_mb": {"first": size_first, "last": _db_size_mb(dsn)},
                "aged_log_rows": {
                    "written": sum(n for _, n in writers.row_batches),
                    "left": aged_rows_left,
                },
                "aged_log_files": {
                    "written": sum(len(f) for _, f in writers.file_batches),
                    "left": aged_files_left,
                },
                "backups": {"total": len(backups), "verified": sum(b.verified for b in backups)},
                "alerts_received": len(sink.alerts),
                "problems": check(runs, dag_ids, rss, writers, aged_rows_left, aged_files_left, backups),
            }
    finally:
        s3.stop()
        sink.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--output", type=Path, default=Path("soak-results.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="airflow-ops-soak-") as tmp:
        result = run_soak(args.minutes, Path(tmp))
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    for problem in result["problems"]:
        print(f"SOAK PROBLEM: {problem}", file=sys.stderr)
    print(f"Wrote {args.output}")
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
