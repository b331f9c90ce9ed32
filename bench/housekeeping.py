"""Housekeeping benchmarks: log sweep vs ``find -delete``, sweep memory on 1M files, db clean rate.

* ``log_cleanup_vs_find_ratio``: 100k log files in the real ``dag_id=/run_id=/task_id=/attempt=``
  layout, 75% past retention; the bundle's sweep (files only, like the baseline) divided by
  ``find ROOT -type f -mtime +N -delete`` on an identical copy made in the same round: the median
  of 4 per-round ratios; over the rounds each side gets the first-made copy and the first turn
  equally often (both matter on disk).
  Target <= 1.2.
* ``log_cleanup_with_dirs_vs_find_ratio``: the sweep with empty-directory removal against
  ``find -type f -mtime +N -delete`` followed by ``find -type d -empty -delete`` (one round).
* ``log_cleanup_peak_rss_mb``: peak RSS of a subprocess sweeping (and deleting) a 1M-file tree.
  Target <= 100. The tree lives on tmpfs (``/dev/shm`` when it has room) only to keep the bench
  short: memory use does not depend on the filesystem, and the speed ratio above is on disk.
* ``db_cleanup_rows_per_s``: rows purged per second from a 2M-row ``log`` table of a migrated
  Airflow DB: windows of ``airflow db clean`` + export-archived + gzip + S3 upload + drop.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RETENTION_DAYS = 30
DAY = 86_400


def make_tree(root: Path, files: int, old_fraction: float = 0.75, tasks: int = 25, attempts: int = 1) -> int:
    """Runs are either wholly past retention (files and directories aged) or recent."""
    now = time.time()
    old_ts = now - (RETENTION_DAYS + 10) * DAY
    new_ts = now - 3600
    per_run = tasks * attempts
    runs = files // per_run
    dags = max(1, runs // 400)
    body = b'{"timestamp":"2026-01-01T00:00:00Z","level":"info","event":"Task started"}\n' * 4
    made = 0
    for r in range(runs):
        dag = f"dag_id=etl_{r % dags:03d}"
        run_dir = root / dag / f"run_id=scheduled__2026-01-01T{r:06d}+00:00"
        old = (r % 100) < old_fraction * 100
        ts = old_ts if old else new_ts
        for t in range(tasks):
            task_dir = run_dir / f"task_id=extract_{t:02d}"
            os.makedirs(task_dir)
            for a in range(1, attempts + 1):
                path = task_dir / f"attempt={a}.log"
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
                os.write(fd, body)
                os.close(fd)
                os.utime(path, (ts, ts))
                made += 1
            os.utime(task_dir, (ts, ts))
        os.utime(run_dir, (ts, ts))
    return made


def _sweep(path: Path, remove_empty_dirs: bool) -> float:
    from airflow_ops.logcleanup.sweep import LogSweeper, RetentionPolicy

    started = time.perf_counter()
    stats = LogSweeper(
        RetentionPolicy(RETENTION_DAYS), dry_run=False, remove_empty_dirs=remove_empty_dirs
    ).sweep("bench", str(path), dag_layout=True)
    elapsed = time.perf_counter() - started
    assert stats.files_deleted > 0 and not stats.skipped, stats.to_dict()
    return elapsed


def _find(path: Path, with_dirs: bool) -> float:
    started = time.perf_counter()
    subprocess.run(["find", str(path), "-type", "f", "-mtime", f"+{RETENTION_DAYS}", "-delete"], check=True)
    if with_dirs:
        subprocess.run(["find", str(path), "-mindepth", "1", "-type", "d", "-empty", "-delete"], check=True)
    return time.perf_counter() - started


def _copy(src: Path, dst: Path) -> None:
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)


def bench_vs_find(work: Path, files: int = 100_000, rounds: int = 4) -> dict[str, float]:
    base = work / "base"
    base.mkdir()
    made = make_tree(base, files)
    ours: list[float] = []
    theirs: list[float] = []
    for i in range(rounds):
        first, second = work / f"first{i}", work / f"second{i}"
        _copy(base, first)
        _copy(base, second)
        os.sync()
        # The copy made first is measurably slower to delete on this disk, whatever deletes it,
        # and the second runner can pay for the first one's writeback. Over 4 rounds each side
        # gets each copy and each turn equally often (sync between the runs, too).
        a, b = (first, second) if i % 2 == 0 else (second, first)
        if (i // 2) % 2:
            theirs.append(_find(b, False))
            os.sync()
            ours.append(_sweep(a, False))
        else:
            ours.append(_sweep(a, False))
            os.sync()
            theirs.append(_find(b, False))
        _progress(f"round {i + 1}: sweep {ours[-1]:.2f}s, find {theirs[-1]:.2f}s")
        left_a = sum(len(f) for _, _, f in os.walk(a))
        left_b = sum(len(f) for _, _, f in os.walk(b))
        assert left_a == left_b == made // 4, (left_a, left_b)
        shutil.rmtree(a)
        shutil.rmtree(b)
    a, b = work / "da", work / "db"
    _copy(base, a)
    _copy(base, b)
    os.sync()
    with_dirs = _sweep(a, True) / _find(b, True)
    for path in (a, b, base):
        shutil.rmtree(path)
    return {
        "log_cleanup_vs_find_ratio": round(
            statistics.median(o / t for o, t in zip(ours, theirs, strict=True)), 3
        ),
        "log_cleanup_seconds_100k": round(statistics.median(ours), 2),
        "find_seconds_100k": round(statistics.median(theirs), 2),
        "log_cleanup_with_dirs_vs_find_ratio": round(with_dirs, 3),
    }


_RSS_CHILD = """
import sys, time
sys.path[:0] = [sys.argv[2]]
from airflow_ops.logcleanup.sweep import LogSweeper, RetentionPolicy
# Judge the tree a year from now: every file is past retention and gets deleted.
policy = RetentionPolicy(30, now=time.time() + 400 * 86400)
stats = LogSweeper(policy, dry_run=False).sweep("bench", sys.argv[1], dag_layout=True)
# VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across fork/exec, so a child started
# by a big parent (this bench, once it has imported Airflow) would report the parent's peak.
hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(stats.files_deleted, hwm_kb)
"""


def _progress(msg: str) -> None:
    print(f"  [housekeeping] {msg}", file=sys.stderr, flush=True)


def bench_rss(work: Path, files: int = 1_000_000) -> dict[str, float]:
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 4 * 1024**3 and os.statvfs(shm).f_favail > 2 * files:
        work = Path(tempfile.mkdtemp(prefix="airflow-ops-bench-rss-", dir=shm))
    tree = work / "big"
    tree.mkdir()
    made = make_tree(tree, files, old_fraction=1.0, attempts=2)
    out = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, str(tree), str(ROOT / "plugins")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    deleted, rss_kb = int(out[0]), int(out[1])
    assert deleted == made, (deleted, made)
    shutil.rmtree(work if work.parent == shm else tree, ignore_errors=True)
    return {"log_cleanup_peak_rss_mb": round(rss_kb / 1024, 1), "log_cleanup_rss_tree_files": float(made)}


def bench_db(rows: int = 2_000_000) -> dict[str, float]:
    import psycopg2

    from airflow_ops.connections import PostgresTarget
    from airflow_ops.dbclean import runner
    from airflow_ops.dbclean.service import run_clean
    from airflow_ops.kinds.db_cleanup.tasks import clean_settings
    from airflow_ops.registry import parse
    from tests.harness import MotoServer, PostgresServer, venv_bin

    pg = PostgresServer()
    dbname = pg.create_database("airflow_ops_bench")
    moto = MotoServer().start()
    try:
        home = Path(tempfile.mkdtemp(prefix="airflow-ops-bench-home-"))
        url = pg.sqlalchemy_url(dbname)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(AIRFLOW_HOME=str(home), AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=url)
        subprocess.run([venv_bin("airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
        conn = psycopg2.connect(pg.url_for(dbname))
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO log (dttm, dag_id, task_id, map_index, event, run_id, owner, try_number) "
                "SELECT now() - (i %% 200) * interval '1 day' - (i %% 86400) * interval '1 second', "
                "'etl_' || (i %% 50), 'extract_' || (i %% 25), -1, 'running', "
                "'scheduled__' || (i %% 1000), 'airflow', 1 FROM generate_series(1, %s) AS i",
                (rows,),
            )
            cur.execute("ANALYZE log")
        conn.close()
        t = pg.target(dbname)
        target = PostgresTarget(t["host"], t["port"], t["user"], dbname, t["password"])
        client = moto.client()
        client.create_bucket(Bucket="bench-archive")
        cfg = parse(
            {
                "kind": "db_cleanup",
                "dag_id": "bench",
                "tables": ["log"],
                "retention_days": RETENTION_DAYS,
                "batch_size": 100_000,
                "window_days": 30,
            }
        )
        saved = {k: os.environ.get(k) for k in ("AIRFLOW_HOME",)}
        os.environ["AIRFLOW_HOME"] = str(home)
        try:
            started = time.perf_counter()
            cleaned = run_clean(target, clean_settings(cfg), dry_run=False)  # type: ignore[arg-type]
            archived = runner.export_and_drop(
                runner.DbCli(target), client, "bench-archive", "db-cleanup/bench"
            )
            elapsed = time.perf_counter() - started
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        deleted = sum(r["rows_purged"] for r in cleaned["tables"])
        assert archived["dropped"] and deleted > rows // 2, (deleted, archived)
        shutil.rmtree(home, ignore_errors=True)
        return {
            "db_cleanup_rows_per_s": round(deleted / elapsed, 1),
            "db_cleanup_rows_deleted": float(deleted),
            "db_cleanup_windows": float(len(cleaned["invocations"])),
            "db_cleanup_seconds": round(elapsed, 1),
        }
    finally:
        moto.stop()
        pg.drop_database(dbname)


def run() -> dict[str, float]:
    sys.path[:0] = [str(ROOT / "plugins")]
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="airflow-ops-bench-logs-") as tmp:
        _progress("100k-file tree: sweep vs find")
        results.update(bench_vs_find(Path(tmp)))
        _progress(f"{results}; 1M-file tree: peak RSS")
        results.update(bench_rss(Path(tmp)))
    _progress(f"{results}; 2M-row log table: airflow db clean")
    results.update(bench_db())
    return results


if __name__ == "__main__":
    started = dt.datetime.now()
    for key, value in run().items():
        print(f"{key} = {value}")
    print(f"({(dt.datetime.now() - started).total_seconds():.0f}s)")
