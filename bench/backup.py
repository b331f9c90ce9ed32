"""Metadata backup throughput, size and memory: a synthetic >= 1 GB database, moto S3 in its own process.

The backup runs with the config's default compression (``airflow_ops.backup.compression.DEFAULT``),
as users get it; the baselines are ``pg_dump -Fc`` as users run it by hand.

* ``backup_vs_pg_dump_ratio``: median wall time of the backup (``run_backup``: pg_dump piped
  into the S3 multipart upload, sha256, row counts, manifest) divided by the median wall time of
  ``pg_dump -Fc | wc -c`` (pg_dump's default compression) on the same 1.1 GB database.
* ``backup_vs_pg_dump_z0_ratio``: the same backup against ``pg_dump -Fc -Z0`` (no compression:
  the I/O-bound limit of any dump).
* ``backup_size_vs_pg_dump``: the backup's object size divided by ``pg_dump -Fc``'s output size.
* ``backup_snapshot_seconds``: how long the backup held its snapshot (manifest ``snapshot_seconds``):
  a long snapshot holds back vacuum on a busy metadata DB.
  The three sides (backup, pg_dump, pg_dump -Z0) run in rotated rounds (each goes first equally often).
* ``backup_airflow_size_vs_pg_dump`` / ``backup_airflow_vs_pg_dump_ratio``: size and time against
  ``pg_dump -Fc`` on an Airflow-shaped database (migrated by the installed Airflow's own
  ``airflow db migrate`` and seeded through its tables by ``bench.dbclean_live.seed``), since real
  metadata compresses differently from the synthetic rows.
* ``backup_peak_rss_mb``: peak RSS (VmHWM) of the process doing the upload, at 1 GB.
* ``backup_rss_growth``: that peak at 1 GB divided by the peak at 100 MB (bounded memory: ~1).
* ``backup_mb_per_s``: database size on disk divided by the backup's wall time.
* ``backup_vs_awscli_ratio``: on a ~400 MB database, the backup's median wall time divided by that
  of the pipeline a user would otherwise write, ``pg_dump -Fc | aws s3 cp - s3://...`` (awscli
  ``AWSCLI_VERSION`` in its own virtualenv, built by the bench under ``~/.cache/airflow-ops-bench``),
  against the same moto server; ``backup_vs_pg_dump_ratio_400mb`` is the same backup against bare
  ``pg_dump -Fc``. The three are measured in rotated rounds (each goes first equally often).

Each backup runs in a fresh subprocess (``python bench/backup.py --worker ...``) so its RSS is
its own. The databases are created for the bench and dropped afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "airflow-ops-bench"
BIG_BYTES = 1_100_000_000
SMALL_BYTES = 100_000_000
MID_BYTES = 400_000_000
AWSCLI_VERSION = "1.46.3"
MID_ROUNDS = 6
ROWS_PER_MB = 5200  # rows of the table below per MB on disk (measured, incl. the primary key)
REPEATS = 3


def _generate(pg: Any, dbname: str, target_bytes: int) -> int:
    """Fill ``dbname`` with Airflow-log-like rows until it is about ``target_bytes``; return its size."""
    import psycopg2

    conn = psycopg2.connect(pg.url_for(dbname))
    conn.autocommit = True
    rows = int(target_bytes / 1e6 * ROWS_PER_MB)
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE log (id bigint PRIMARY KEY, dttm timestamptz, dag_id text, task_id text,"
            " event text, extra text)"
        )
        step = 1_000_000
        for start in range(1, rows + 1, step):
            stop = min(rows, start + step - 1)
            cur.execute(
                "INSERT INTO log SELECT g, timestamptz '2024-01-01' + g * interval '1 second',"
                " 'dag_' || (g % 500), 'task_' || (g % 37), (ARRAY['running','success','failed'])[1 + g % 3],"
                " md5(g::text) || md5((g * 7)::text) || md5(random()::text)"
                f" FROM generate_series({start}, {stop}) g"
            )
        cur.execute("CREATE TABLE variable (key text PRIMARY KEY, val text)")
        cur.execute(
            "INSERT INTO variable SELECT 'v' || g, repeat(md5(g::text), 8) FROM generate_series(1, 2000) g"
        )
        cur.execute("VACUUM ANALYZE")
        cur.execute("SELECT pg_database_size(current_database())")
        size = int(cur.fetchone()[0])
    conn.close()
    return size


def _pg_dump(pg: Any, dbname: str, *extra: str) -> tuple[float, int]:
    """(seconds, bytes) of ``pg_dump -Fc [extra]`` as a user runs it, its output counted by ``wc -c``."""
    from airflow_ops.backup.pgtools import select_tool

    tool = select_tool("pg_dump", 15, ["/usr/lib/postgresql/*/bin"])
    t = pg.target(dbname)
    argv = [tool.path, "-Fc", *extra, "-h", t["host"], "-p", str(t["port"]), "-U", t["user"], dbname]
    t0 = time.monotonic()
    dump = subprocess.Popen(argv, stdout=subprocess.PIPE)
    out = subprocess.run(["wc", "-c"], stdin=dump.stdout, capture_output=True, text=True, check=True)
    assert dump.stdout is not None
    dump.stdout.close()
    if dump.wait() != 0:
        raise RuntimeError(f"pg_dump of {dbname} exited {dump.returncode}")
    return time.monotonic() - t0, int(out.stdout.strip())


def _pg_dump_seconds(pg: Any, dbname: str) -> float:
    return _pg_dump(pg, dbname)[0]


def _awscli() -> Path:
    """``aws`` of awscli ``AWSCLI_VERSION`` in a virtualenv of its own (built once, then reused)."""
    venv = Path.home() / ".cache" / "airflow-ops-bench" / f"awscli-{AWSCLI_VERSION}"
    aws = venv / "bin" / "aws"
    if not aws.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, f"awscli=={AWSCLI_VERSION}"], check=True)
    return aws


def _awscli_pipeline_seconds(pg: Any, moto: Any, dbname: str, aws: Path, run: int) -> float:
    """``pg_dump -Fc | aws s3 cp - s3://...``: the hand-written peer, with awscli's defaults."""
    import os
    import shlex

    from airflow_ops.backup.pgtools import select_tool

    tool = select_tool("pg_dump", 15, ["/usr/lib/postgresql/*/bin"])
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    cmd = (
        f"set -o pipefail; {shlex.quote(tool.path)} -Fc -h 127.0.0.1 -U postgres {shlex.quote(dbname)}"
        f" | {shlex.quote(str(aws))} --endpoint-url {shlex.quote(moto.endpoint_url)} s3 cp --only-show-errors"
        f" - s3://{BUCKET}/awscli/{run}/dump.pgdump"
    )
    t0 = time.monotonic()
    subprocess.run(["bash", "-c", cmd], env=env, check=True)
    return time.monotonic() - t0


def _versus_awscli(pg: Any, moto: Any, dbname: str) -> dict[str, float]:
    aws = _awscli()
    sides: dict[str, list[float]] = {"backup": [], "awscli": [], "pg_dump": []}
    order = list(sides)
    for run in range(MID_ROUNDS):
        for side in order[run % 3 :] + order[: run % 3]:  # rotate who goes first
            if side == "backup":
                sides[side].append(_backup(pg, moto, dbname, 100 + run)["wall"])
            elif side == "awscli":
                sides[side].append(_awscli_pipeline_seconds(pg, moto, dbname, aws, run))
            else:
                sides[side].append(_pg_dump_seconds(pg, dbname))
            _empty_bucket(moto)
        print(
            f"  {MID_BYTES / 1e6:.0f} MB round {run}: "
            + ", ".join(f"{side} {values[-1]:.2f}s" for side, values in sides.items())
        )
    med = {side: statistics.median(values) for side, values in sides.items()}
    raw = {side: [round(v, 2) for v in values] for side, values in sides.items()}
    print(f"  {MID_BYTES / 1e6:.0f} MB raw: {json.dumps(raw)}")
    return {
        "backup_vs_awscli_ratio": round(med["backup"] / med["awscli"], 3),
        "backup_vs_pg_dump_ratio_400mb": round(med["backup"] / med["pg_dump"], 3),
    }


def _backup(pg: Any, moto: Any, dbname: str, run: int) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            json.dumps({"target": pg.target(dbname), "endpoint": moto.endpoint_url, "run": run}),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=str(ROOT),
    )
    if out.returncode != 0:
        raise RuntimeError(f"backup worker failed:\n{out.stderr[-3000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    client = moto.client()
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])  # keep moto's memory flat
    return result


def _worker(spec: dict[str, Any]) -> None:
    """Runs in its own process: one backup through the library, then its timings and peak RSS."""
    import boto3

    from airflow_ops.backup.compression import DEFAULT as DEFAULT_COMPRESSION
    from airflow_ops.backup.dump import BackupRequest, run_backup
    from airflow_ops.backup.layout import BackupLocation
    from airflow_ops.connections import PostgresTarget

    client = boto3.client(
        "s3",
        endpoint_url=spec["endpoint"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto
        region_name="us-east-1",
    )
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=spec["run"])
    req = BackupRequest(
        source=PostgresTarget(**spec["target"]),
        location=BackupLocation(BUCKET, "bench", when),
        compression=DEFAULT_COMPRESSION,
    )
    t0 = time.monotonic()
    manifest = run_backup(client, req)
    wall = time.monotonic() - t0
    hwm_kb = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm_kb = int(line.split()[1])
    # VmHWM only: getrusage's ru_maxrss survives fork/exec on Linux, so it would report the
    # bench parent's peak whenever that is the larger one.
    print(
        json.dumps(
            {
                "wall": wall,
                "peak_rss_mb": hwm_kb / 1024,
                "size": manifest.size_bytes,
                "snapshot_s": manifest.snapshot_seconds or 0.0,
            }
        )
    )


def _versus_pg_dump(pg: Any, moto: Any, dbname: str, label: str) -> dict[str, list[dict[str, float]]]:
    """Rotated rounds of the backup, ``pg_dump -Fc`` and ``pg_dump -Fc -Z0``; every round printed."""
    sides: dict[str, list[dict[str, float]]] = {"backup": [], "pg_dump": [], "pg_dump_z0": []}
    order = list(sides)
    for run in range(REPEATS):
        for side in order[run % 3 :] + order[: run % 3]:
            if side == "backup":
                sides[side].append(_backup(pg, moto, dbname, 10 + run))
                _empty_bucket(moto)  # moto keeps objects in its memory; S3 does not slow down with them
            else:
                wall, size = _pg_dump(pg, dbname, *(["-Z0"] if side == "pg_dump_z0" else []))
                sides[side].append({"wall": wall, "size": size})
        b = sides["backup"][-1]
        print(
            f"  {label} round {run}: backup {b['wall']:.1f}s ({b['size'] / 1e6:.0f} MB, snapshot "
            f"{b['snapshot_s']:.1f}s, peak RSS {b['peak_rss_mb']:.0f} MB), pg_dump "
            f"{sides['pg_dump'][-1]['wall']:.1f}s ({sides['pg_dump'][-1]['size'] / 1e6:.0f} MB), pg_dump -Z0 "
            f"{sides['pg_dump_z0'][-1]['wall']:.1f}s ({sides['pg_dump_z0'][-1]['size'] / 1e6:.0f} MB)"
        )
    raw = {side: [round(r["wall"], 2) for r in rounds] for side, rounds in sides.items()}
    print(f"  {label} raw seconds: {json.dumps(raw)}")
    return sides


#: rows seeded into the Airflow-shaped database (dag_run, task_instance, xcom, log, job)
AIRFLOW_SEED_ROWS = 1_500_000


def _airflow_shaped(pg: Any, moto: Any) -> dict[str, float]:
    """Backup against ``pg_dump -Fc`` on a database of Airflow's own schema and row shapes."""
    import os

    from bench.dbclean_live import seed

    dbname = pg.create_database("airflow_ops_bench_backup_airflow")
    try:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")},
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.sqlalchemy_url(dbname),
            "AIRFLOW_HOME": str(ROOT / ".compat" / "bench-airflow-home"),
        }
        airflow = str(Path(sys.executable).parent / "airflow")
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
        seed(pg.url_for(dbname), AIRFLOW_SEED_ROWS)
        rounds = _versus_pg_dump(pg, moto, dbname, "Airflow-shaped")
        backups, dumps = rounds["backup"], rounds["pg_dump"]
        return {
            "backup_airflow_size_vs_pg_dump": round(
                statistics.median(b["size"] for b in backups) / statistics.median(d["size"] for d in dumps), 3
            ),
            "backup_airflow_vs_pg_dump_ratio": round(
                statistics.median(b["wall"] for b in backups) / statistics.median(d["wall"] for d in dumps), 3
            ),
        }
    finally:
        pg.drop_database(dbname)


def _empty_bucket(moto: Any) -> None:
    client = moto.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys, "Quiet": True})


def run() -> dict[str, float]:
    from tests.harness import MotoServer, PostgresServer

    pg = PostgresServer()
    moto = MotoServer().start()
    dbs: list[str] = []
    try:
        moto.client().create_bucket(Bucket=BUCKET)
        small = pg.create_database("airflow_ops_bench_backup_small")
        dbs.append(small)
        big = pg.create_database("airflow_ops_bench_backup_big")
        dbs.append(big)
        mid = pg.create_database("airflow_ops_bench_backup_mid")
        dbs.append(mid)
        t0 = time.monotonic()
        mid_size = _generate(pg, mid, MID_BYTES)
        print(f"  generated {mid_size / 1e6:.0f} MB in {time.monotonic() - t0:.0f}s")
        versus = _versus_awscli(pg, moto, mid)
        pg.drop_database(dbs.pop())
        t0 = time.monotonic()
        small_size = _generate(pg, small, SMALL_BYTES)
        big_size = _generate(pg, big, BIG_BYTES)
        print(f"  generated {small_size / 1e6:.0f} + {big_size / 1e6:.0f} MB in {time.monotonic() - t0:.0f}s")
        small_runs = [_backup(pg, moto, small, run) for run in range(2)]
        big_rounds = _versus_pg_dump(pg, moto, big, f"{big_size / 1e9:.1f} GB")
        backups = big_rounds["backup"]
        backup_wall = statistics.median(b["wall"] for b in backups)
        big_rss = statistics.median(b["peak_rss_mb"] for b in backups)
        small_rss = statistics.median(b["peak_rss_mb"] for b in small_runs)
        med = {side: statistics.median(r["wall"] for r in rounds) for side, rounds in big_rounds.items()}
        airflow = _airflow_shaped(pg, moto)
        return {
            "backup_vs_pg_dump_ratio": round(backup_wall / med["pg_dump"], 3),
            "backup_vs_pg_dump_z0_ratio": round(backup_wall / med["pg_dump_z0"], 3),
            "backup_size_vs_pg_dump": round(
                statistics.median(b["size"] for b in backups)
                / statistics.median(r["size"] for r in big_rounds["pg_dump"]),
                3,
            ),
            "backup_snapshot_seconds": round(statistics.median(b["snapshot_s"] for b in backups), 1),
            **airflow,
            "backup_peak_rss_mb": round(big_rss, 1),
            "backup_rss_growth": round(big_rss / small_rss, 3),
            "backup_mb_per_s": round(big_size / 1e6 / backup_wall, 1),
            "backup_db_size_mb": round(big_size / 1e6, 1),
            **versus,
        }
    finally:
        moto.stop()
        for name in dbs:
            pg.drop_database(name)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        sys.path[:0] = [str(ROOT / "plugins")]
        _worker(json.loads(sys.argv[2]))
    else:
        sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]
        print(json.dumps(run(), indent=2))
