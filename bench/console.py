"""The Maintenance page's server time with a year of history: ``console_page_ms_p95``.

A real Airflow (``tests.harness``) with the bundle's DAGs, paused so the scheduler runs nothing;
365 daily runs of each of the five maintenance DAGs are seeded through Airflow's REST API (each a
DAG run, its ``report`` XCom and its final state; one in 30 without a report, one in 50 failed).
Then the page is fetched with the 365-day window (every run on the charts) ``ROUNDS`` times.

* ``console_page_ms_p95``: p95 of the server time the page reports (``Server-Timing``: from the
  route's start to the rendered HTML, its queries included). Target <= 300 ms.
* ``console_page_wall_ms_p95``: p95 of the wall time the client sees (auth, ASGI, transfer included).
* ``console_page_queries``: SQL statements per page (``X-Ops-Queries``), the same for any history.
* ``console_page_gc_ms_max``: the longest time the api-server spent in its garbage collector during
  one page (``Server-Timing`` ``gc``); a full collection of an unfrozen api-server heap took 450 ms.
* ``console_page_ms_p95_5min_probe``: the same p95 once the health probe also has a year of runs every
  5 minutes (105,120 runs cloned in SQL with their reports, as a task stores them), and
  ``console_page_window_runs_5min_probe``: the runs the page then reads (``X-Ops-Window-Runs``).
"""

from __future__ import annotations

import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DAYS = 365
ROUNDS = 60
#: A year of health probes every 5 minutes.
FREQUENT = DAYS * 24 * 12


def _metrics(dag_id: str, i: int) -> dict[str, Any]:
    from tests.console_seed import BACKUP, DBCLEAN, EXPORT, HEALTH, LOGS

    return {
        BACKUP: {"backup_bytes": 10_000_000 + i * 50_000, "dump_seconds": 5.0 + i / 100, "verified": True},
        EXPORT: {"changes": i % 7},
        LOGS: {"bytes_freed": 1_000_000 * (i % 5), "free_bytes_min": 40 * 10**9 - i * 10**7},
        DBCLEAN: {"rows_purged": 1000 + i},
        HEALTH: {"critical": int(i % 40 == 0), "warning": int(i % 9 == 0), "metadata_db_size_bytes": 10**8},
    }[dag_id]


def _p95(values: list[float]) -> float:
    return round(statistics.quantiles(values, n=20)[-1], 1)


def _measure(url: str, token: str, rounds: int) -> dict[str, list[float]]:
    """``rounds`` pages after 3 warm-up ones: server, wall and gc ms, queries and window runs of each."""
    import requests

    got: dict[str, list[float]] = {k: [] for k in ("server", "wall", "gc", "queries", "window_runs")}
    for n in range(rounds + 3):
        t0 = time.perf_counter()
        resp = requests.get(url, cookies={"_token": token}, timeout=120)
        wall = (time.perf_counter() - t0) * 1000
        resp.raise_for_status()
        if n < 3:  # warm-up: the first request builds the app and imports
            continue
        timing = dict(part.strip().split(";dur=") for part in resp.headers["Server-Timing"].split(","))
        print(resp.headers["Server-Timing"], f"wall={wall:.0f}", file=sys.stderr)
        got["server"].append(float(timing["page"]))
        got["gc"].append(float(timing["gc"]))
        got["wall"].append(wall)
        got["queries"].append(float(resp.headers["X-Ops-Queries"]))
        got["window_runs"].append(float(resp.headers["X-Ops-Window-Runs"]))
        assert resp.text.count('class="point') >= 5 * (DAYS - 20), "history missing from the page"
    print(f"page server ms: {sorted(got['server'])}", file=sys.stderr)
    return got


def run() -> dict[str, float]:
    import psycopg2
    import requests

    from tests.console_seed import HEALTH, KIND, clone_runs, seed_run, set_paused
    from tests.harness import ADMIN_USER, MotoServer, PostgresServer, airflow_stack, demo_env

    pg = PostgresServer()
    s3 = MotoServer().start()
    home = Path(tempfile.mkdtemp(prefix="airflow_ops_bench_console_"))
    env = {**demo_env(s3), "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"}
    try:
        with airflow_stack(home / "home", pg, ROOT / "dags", ROOT / "plugins", extra_env=env) as stack:
            dag_ids = sorted(KIND)
            stack.wait_for_dags(dag_ids)
            for dag_id in dag_ids:
                set_paused(stack, dag_id, True)
            now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
            jobs = [(d, i) for d in dag_ids for i in range(DAYS)]
            started = time.monotonic()

            def seed(chunk: list[tuple[str, int]]) -> None:
                api = stack.api()
                for dag_id, i in chunk:
                    when = now - dt.timedelta(days=DAYS - i, hours=1)
                    failed = i % 50 == 49
                    seed_run(
                        stack,
                        dag_id,
                        when,
                        state="failed" if failed else "success",
                        report=None if i % 30 == 29 else "auto",
                        api=api,
                        **_metrics(dag_id, i),
                    )

            with ThreadPoolExecutor(4) as pool:
                list(pool.map(seed, [jobs[k::4] for k in range(4)]))
            print(f"seeded {len(jobs)} runs in {time.monotonic() - started:.0f}s", file=sys.stderr)

            token = requests.post(
                f"{stack.base_url}/auth/token",
                json={"username": ADMIN_USER, "password": stack.password},
                timeout=30,
            ).json()["access_token"]
            url = f"{stack.base_url}/maintenance/?days={DAYS}"
            daily = _measure(url, token, ROUNDS)
            out = {
                "console_page_ms_p95": _p95(daily["server"]),
                "console_page_wall_ms_p95": _p95(daily["wall"]),
                "console_page_queries": max(daily["queries"]),
                "console_page_gc_ms_max": max(daily["gc"]),
            }
            started = time.monotonic()
            conn = psycopg2.connect(stack.sql_alchemy_conn.replace("+psycopg2", ""))
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT d.run_id FROM dag_run d JOIN xcom x ON x.dag_run_id = d.id AND x.key = 'report'"
                    " WHERE d.dag_id = %s ORDER BY d.run_after DESC LIMIT 1",
                    (HEALTH,),
                )
                template = cur.fetchone()[0]
                step = dt.timedelta(minutes=5)
                clone_runs(
                    # offset by half a step: never at a seeded run's logical date (on the hour)
                    cur,
                    HEALTH,
                    template,
                    "probe5__",
                    now - dt.timedelta(days=DAYS) + step / 2,
                    step,
                    FREQUENT,
                )
            conn.close()
            print(f"cloned {FREQUENT} probe runs in {time.monotonic() - started:.0f}s", file=sys.stderr)
            frequent = _measure(url, token, ROUNDS // 2)
            out["console_page_ms_p95_5min_probe"] = _p95(frequent["server"])
            out["console_page_window_runs_5min_probe"] = max(frequent["window_runs"])
            return out
    finally:
        s3.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    print(run())
