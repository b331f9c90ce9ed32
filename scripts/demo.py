#!/usr/bin/env python3
"""``make demo``: a local Airflow 3 with the bundle, every maintenance DAG run once, reports printed.

Uses the local PostgreSQL (``AIRFLOW_OPS_TEST_PG``, default 127.0.0.1:5432) or, where none answers,
an embedded one from the ``pgserver`` package if it is installed; a moto S3 server stands in for
S3. Starts scheduler, dag-processor, triggerer and api-server on free ports, triggers each DAG in
dags/ under the real scheduler, prints each run's report, and shuts everything down.
``--keep`` leaves it running until Ctrl-C so you can open the UI.

A local alert sink (a webhook receiver and an SMTP server on 127.0.0.1) stands behind the shipped
``ops_alert_webhook`` and ``smtp_default`` connections: the demo ends with a run that fails on
purpose (a typo'd run param) and prints the alerts it sent.

The Airflow home (``.demo/airflow_home``, mode 0700) holds the demo's fernet key, JWT secret, API
secret and passwords file (each 0600); they are deleted on exit, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from airflow_ops.compat import airflow_version
from airflow_ops.report import REPORT_KEY, RunReport
from airflow_ops_tools.secretfile import private_dir, remove_secrets
from tests.harness import (
    PASSWORDS_FILE,
    SECRET_NAMES,
    AirflowStack,
    AlertSink,
    MotoServer,
    PostgresServer,
    airflow_stack,
    demo_env,
)

ROOT = Path(__file__).resolve().parents[1]

# Order matters: the DB cleanup refuses to run without a fresh verified backup.
ORDER = ("health_probe", "metadata_backup", "config_export", "log_cleanup", "db_cleanup")
BUCKETS = ("airflow-ops-backups", "airflow-ops-exports", "airflow-ops-archive", "airflow-ops-logs")


def maintenance_url(base_url: str) -> str:
    """The Maintenance nav entry inside the UI (the plugin's page itself is at /maintenance/)."""
    return f"{base_url}/plugin/maintenance"


def _postgres() -> tuple[PostgresServer, Any]:
    import psycopg2

    server = PostgresServer()
    try:
        psycopg2.connect(server.admin_url, connect_timeout=5).close()
        return server, None
    except psycopg2.OperationalError:
        pass
    try:
        import pgserver  # type: ignore[import-not-found]
    except ImportError:
        sys.exit(
            f"error: no PostgreSQL answers at {server.admin_url}. Start one "
            "(e.g. `apt-get install postgresql`) or point AIRFLOW_OPS_TEST_PG at one; "
            "pgserver (in the lock) provides an embedded server otherwise."
        )
    embedded = pgserver.get_server(str(ROOT / ".demo" / "pgdata"), cleanup_mode="stop")
    return PostgresServer(embedded.get_uri()), embedded


def _kind(dag_file: Path) -> str:
    text = dag_file.read_text()
    for kind in ORDER:
        if f"'kind': '{kind}'" in text:
            return kind
    return "zz"


def _report(stack: AirflowStack, dag_id: str, run_id: str) -> RunReport | None:
    tis = stack.api().get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
    for ti in sorted(tis["task_instances"], key=lambda t: t.get("end_date") or "", reverse=True):
        report = RunReport.from_dict(stack.xcom(dag_id, run_id, ti["task_id"], REPORT_KEY) or {})
        if report is not None:
            return report
    return None


#: A run that fails on purpose, before doing anything: a typo'd run param.
FAILING = ("ops_log_cleanup", {"retentiondays": 1})


def show_alert(stack: AirflowStack, sink: AlertSink, timeout: float = 60) -> bool:
    """Trigger a run that fails on purpose and print the alerts the local sink received for it."""
    dag_id, conf = FAILING
    before = len(sink.alerts)
    print(f"\n>>> {dag_id} with conf {json.dumps(conf)}: fails on purpose, to show a real alert ...")
    run = stack.run_dag(dag_id, conf=conf, timeout=300)
    print(f"<<< {dag_id}: {run.state.upper()}")
    deadline = time.monotonic() + timeout
    while len(sink.alerts) == before and time.monotonic() < deadline:
        time.sleep(1)
    received = sink.alerts[before:]
    for alert in received:
        print(f"ALERT via {alert['channel']}: {alert['text']}")
    if not received:
        print("No alert arrived at the local sink: check the alert connections.")
    return bool(received)


def secret_files(home: Path) -> list[Path]:
    """What the demo leaves secret in its home: the stack's secrets and the airflow.cfg that
    Airflow writes on first start (with generated secret values)."""
    return [home / f".{name}" for name in SECRET_NAMES] + [home / PASSWORDS_FILE, home / "airflow.cfg"]


def _terminate(signum: int, _frame: object) -> None:
    # SIGTERM/SIGHUP end the demo like Ctrl-C: every `finally` runs (processes, database, secrets).
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep Airflow running after the runs (Ctrl-C stops)"
    )
    parser.add_argument("--only", action="append", help="run only this dag_id (repeatable)")
    args = parser.parse_args(argv)

    home = ROOT / ".demo" / "airflow_home"
    shutil.rmtree(home, ignore_errors=True)
    private_dir(home)
    previous = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return _run(args, home)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    finally:
        remove_secrets(secret_files(home))
        print(f"Deleted the demo's secrets from {home}.")
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(args: argparse.Namespace, home: Path) -> int:
    pg, embedded = _postgres()
    s3 = MotoServer().start()
    sink = AlertSink().start()
    for bucket in BUCKETS:
        s3.client().create_bucket(Bucket=bucket)
    dag_files = sorted(
        (ROOT / "dags").glob("*.py"),
        key=lambda p: (ORDER.index(k) if (k := _kind(p)) in ORDER else 99, p.stem),
    )
    dag_ids = [p.stem for p in dag_files if not args.only or p.stem in args.only]
    failures = 0
    try:
        print(f"Starting Airflow {airflow_version()} (LocalExecutor) in {home} ...", flush=True)
        started = time.monotonic()
        with airflow_stack(home, pg, ROOT / "dags", ROOT / "plugins", extra_env=demo_env(s3, sink)) as stack:
            stack.wait_for_dags(dag_ids)
            print(f"Up in {time.monotonic() - started:.0f}s: UI {stack.base_url} (admin / {stack.password})")
            print(f"Maintenance page: {maintenance_url(stack.base_url)}")
            errors = stack.import_errors()
            print(f"Import errors: {len(errors)}")
            for dag_id in dag_ids:
                print(f"\n>>> {dag_id}: triggering under the real scheduler ...", flush=True)
                run = stack.run_dag(dag_id, timeout=900)
                report = _report(stack, dag_id, run.run_id)
                print(f"<<< {dag_id}: {run.state.upper()}  tasks: {json.dumps(run.task_states)}")
                if report:
                    print(report.render_table())
                if run.state != "success":
                    failures += 1
                    print(run.log_text()[-2500:])
            show_alert(stack, sink)
            if args.keep:
                print(f"\nAirflow keeps running at {stack.base_url}; Ctrl-C to stop.")
                print(f"Maintenance page (log in as admin first): {maintenance_url(stack.base_url)}")
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass
        print("\nAirflow stopped, demo database dropped.")
    finally:
        s3.stop()
        sink.stop()
        if embedded is not None:
            embedded.cleanup()
    print(f"{len(dag_ids) - failures} of {len(dag_ids)} DAG runs succeeded.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
