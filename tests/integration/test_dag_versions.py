"""Generated DAGs do not churn DAG versions: a real dag-processor re-parses every file 20 times.

Airflow 3 writes a new ``dag_version`` row whenever a DAG's serialization changes, so a DAG file
that is not deterministic (timestamps, random ids, unordered sets in its arguments) grows the
metadata DB on every parse. Three things make the measurement able to see churn:

- ``[core] min_serialized_dag_update_interval = 0``: by default (30 s) a parse less than 30 s after
  the last write is not compared with the stored DAG at all, so most quick re-parses would prove
  nothing (the test then also takes three times as long);
- a changed serialization only adds a row when the current version already has task instances
  (Airflow rewrites an unused version in place), so every DAG first gets a finished run with a task
  instance on its version;
- a control DAG file that is not deterministic, parsed alongside, must churn.

Parses are counted from the dag-processor's own data: each parse of a file emits its
``dag_processing.last_duration.<bundle>.<file>`` metric, counted here on a StatsD listener. (Not
``airflow dag-processor --num-runs N``: in 3.3.2 it exits once the files it has already parsed
reached N, before the others were parsed at all: an earlier version of this test relied on it, and
its churn control did not churn.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg2

from tests.harness import AirflowStack, PostgresServer, StatsdSink, wait_for
from tests.integration.test_gitsync import import_errors, query

REPO = Path(__file__).resolve().parents[2]
PARSES = 20
CONTROL = "zz_churn_control"
CHANGED = "ops_log_cleanup"

#: The control: a DAG whose serialization differs at every parse.
CHURN_DAG = """
import uuid

from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG("zz_churn_control", schedule=None, description=str(uuid.uuid4())):
    EmptyOperator(task_id="t")
"""

#: A finished run with one task instance on every DAG version that has none yet.
PIN_SQL = """
INSERT INTO dag_run (dag_id, run_id, run_type, state, logical_date, run_after, start_date, end_date,
                     data_interval_start, data_interval_end, conf, clear_number, span_status)
SELECT DISTINCT v.dag_id, 'manual__pin_' || v.version_number, 'manual', 'success', now(), now(), now(),
       now(), now(), now(), '{}'::jsonb, 0, 'ended'
FROM dag_version v
WHERE NOT EXISTS (SELECT 1 FROM task_instance t WHERE t.dag_version_id = v.id)
ON CONFLICT DO NOTHING;
INSERT INTO task_instance (id, task_id, dag_id, run_id, map_index, try_number, max_tries, pool, pool_slots,
                           state, start_date, end_date, duration, hostname, span_status, priority_weight,
                           dag_version_id)
SELECT gen_random_uuid(), 'pinned', v.dag_id, 'manual__pin_' || v.version_number, -1, 1, 1, 'default_pool',
       1, 'success', now(), now(), 1, 'test', 'ended', 1, v.id
FROM dag_version v
WHERE NOT EXISTS (SELECT 1 FROM task_instance t WHERE t.dag_version_id = v.id);
"""

_PARSED = re.compile(r"^airflow\.dag_processing\.last_duration\.[^:]*?\.([A-Za-z0-9_]+):")


def dag_versions(pg: PostgresServer, db: str) -> dict[str, int]:
    rows = query(pg, db, "SELECT dag_id, count(*) FROM dag_version GROUP BY dag_id")
    return {r[0]: int(r[1]) for r in rows}


def dag_hashes(pg: PostgresServer, db: str) -> dict[str, str]:
    rows = query(
        pg, db,
        "SELECT DISTINCT ON (dag_id) dag_id, dag_hash FROM serialized_dag ORDER BY dag_id, created_at DESC",
    )  # fmt: skip
    return {r[0]: str(r[1]) for r in rows}


def pin_versions(pg: PostgresServer, db: str) -> None:
    conn = psycopg2.connect(pg.url_for(db))
    with conn, conn.cursor() as cur:
        cur.execute(PIN_SQL)
    conn.close()


def parses(sink: StatsdSink, mark: int) -> Counter[str]:
    """Parses per DAG file since ``mark``, from the dag-processor's per-parse metric."""
    counts: Counter[str] = Counter()
    for line in sink.since(mark, "airflow.dag_processing.last_duration."):
        m = _PARSED.match(line)
        if m:
            counts[m.group(1)] += 1
    return counts


def wait_parses(
    sink: StatsdSink, mark: int, files: set[str], at_least: int, stack: AirflowStack
) -> Counter[str]:
    """Wait until every file was parsed ``at_least`` times since ``mark``."""

    def done() -> Counter[str] | None:
        got = parses(sink, mark)
        return got if all(got[f] >= at_least for f in files) else None

    try:
        return wait_for(done, 240, f"{at_least} parses of every file", interval=0.5)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{stack.component_log('dag-processor')[-3000:]}") from None


def test_reparsing_keeps_one_dag_version_per_dag_and_a_config_change_adds_exactly_one(
    tmp_path: Path, pg_server: PostgresServer, statsd_sink: StatsdSink
) -> None:
    started = time.monotonic()
    # The repository layout the generated files expect: dags/ next to plugins/.
    checkout = tmp_path / "synced"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("dags", "plugins", "config", "tools"):
        shutil.copytree(REPO / folder, checkout / folder, ignore=ignore)
    shutil.copy(REPO / "airflow.cfg.template", checkout)  # marks the checkout as the generator's root
    expected = {p.stem for p in (checkout / "dags").glob("*.py")}
    (checkout / "dags" / f"{CONTROL}.py").write_text(CHURN_DAG)
    files = expected | {CONTROL}

    db = pg_server.create_database("airflow_ops_dag_versions")
    stack: AirflowStack | None = None
    try:
        stack = AirflowStack(
            tmp_path / "home",
            pg_server.sqlalchemy_url(db),
            checkout / "dags",
            None,
            extra_env={
                "PYTHONPATH": "",  # the checkout makes plugins/ importable on its own
                "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "0",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "0",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "1",
                **statsd_sink.env(),
            },
        )
        stack.migrate()
        mark = statsd_sink.mark()
        stack.start(("dag-processor",))
        wait_for(lambda: dag_versions(pg_server, db) == dict.fromkeys(files, 1), 120, "every DAG parsed once")
        assert import_errors(pg_server, db) == []
        first = dag_hashes(pg_server, db)
        pin_versions(pg_server, db)
        pinned = statsd_sink.mark()
        initial = parses(statsd_sink, mark)

        reparsed = wait_parses(statsd_sink, pinned, files, PARSES, stack)
        assert import_errors(pg_server, db) == []
        versions = dag_versions(pg_server, db)
        assert versions.pop(CONTROL) >= 2, "the control did not churn: churn would go unseen here"
        assert versions == dict.fromkeys(expected, 1)
        hashes = dag_hashes(pg_server, db)
        assert {d: hashes[d] for d in expected} == {d: first[d] for d in expected}

        # A config change, deployed the usual way: edit the YAML, regenerate, sync (the processor runs on).
        yml = checkout / "config" / f"{CHANGED}.yml"
        text = yml.read_text()
        assert "retention_days: 30\n" in text
        yml.write_text(text.replace("retention_days: 30\n", "retention_days: 21\n"))
        before = {p.name: p.read_bytes() for p in (checkout / "dags").glob("*.py")}
        done = subprocess.run(
            [sys.executable, "-m", "airflow_ops_tools.cli", "generate",
             "--config-dir", str(checkout / "config"), "--dags-dir", str(checkout / "dags")],
            env={**os.environ, "PYTHONPATH": f"{checkout / 'plugins'}{os.pathsep}{checkout / 'tools'}"},
            cwd=checkout,
            capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        after = {p.name: p.read_bytes() for p in (checkout / "dags").glob("*.py")}
        assert [n for n in after if after[n] != before[n]] == [f"{CHANGED}.py"], done.stdout
        assert "'retention_days': 21" in after[f"{CHANGED}.py"].decode()

        wait_for(lambda: dag_versions(pg_server, db).get(CHANGED) == 2, 120, f"a new version of {CHANGED}")
        pin_versions(pg_server, db)  # from here, any further change of any DAG would add a row
        repinned = statsd_sink.mark()
        settled = wait_parses(statsd_sink, repinned, files, 5, stack)
        stack.stop()
        assert import_errors(pg_server, db) == []
        versions = dag_versions(pg_server, db)
        control = versions.pop(CONTROL)
        assert versions == {d: 2 if d == CHANGED else 1 for d in expected}
        now = dag_hashes(pg_server, db)
        assert {d for d in expected if now[d] != first[d]} == {CHANGED}
        print(
            f"\nparses per file: initial {dict(sorted(initial.items()))}, after the pin "
            f"{dict(sorted(reparsed.items()))}, after the change {dict(sorted(settled.items()))}; "
            f"dag_version rows: {dict(sorted(versions.items()))}, control {control}; "
            f"{time.monotonic() - started:.0f}s"
        )
    finally:
        if stack is not None:
            stack.stop()
        pg_server.drop_database(db)
