"""REST API side of `make test-compose`: run the bundle's DAGs on the compose stack and wait for them.

  trial.py run-all --url URL --dags-dir DIR        unpause every DAG, trigger each one (in the order the
                                                   DB cleanup needs), wait for success; ops_db_cleanup
                                                   must then run from the backup's Asset event
  trial.py run-on-worker --url URL --dag ID --worker-hostname H   the run's tasks ran on that worker

Stdlib only. The admin password comes from $AIRFLOW_OPS_TRIAL_PASSWORD (read from the secrets volume by
run.sh). Every failure is one line naming the DAG, the task and where to look; exit 1 (2 for bad input).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

#: The backup must come first: it emits the Asset the DB cleanup is scheduled on.
ORDER = ("ops_health_probe", "ops_metadata_backup", "ops_config_export", "ops_log_cleanup")
ASSET_SCHEDULED = "ops_db_cleanup"
RUN_TIMEOUT = float(os.environ.get("AIRFLOW_OPS_TRIAL_RUN_TIMEOUT", "300"))
API_PATIENCE = float(os.environ.get("AIRFLOW_OPS_TRIAL_API_PATIENCE", "180"))


class TrialFailed(Exception):
    pass


class Api:
    def __init__(self, url: str, password: str) -> None:
        self.url = url.rstrip("/")
        body = self._call("POST", "/auth/token", {"username": "admin", "password": password}, token=None)
        self.token = str(body["access_token"])

    def _call(self, method: str, path: str, body: Any = None, token: str | None = "") -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token or self.token}")
        # A busy 2-core machine can stall the api-server for a while: idempotent calls are retried
        # for up to API_PATIENCE seconds; a POST (a trigger) never is, so no run is created twice.
        deadline = time.monotonic() + (API_PATIENCE if method in ("GET", "PATCH") else 0)
        while True:
            try:
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    return json.loads(response.read() or b"null")
            except urllib.error.HTTPError as exc:
                if exc.code >= 500 and time.monotonic() < deadline:
                    time.sleep(5)
                    continue
                detail = exc.read().decode(errors="replace")[:300]
                raise TrialFailed(f"{method} {path} answered {exc.code}: {detail}") from None
            except OSError as exc:
                if time.monotonic() < deadline:
                    time.sleep(5)
                    continue
                raise TrialFailed(
                    f"{method} {path}: the api-server at {self.url} is unreachable ({exc})"
                ) from None

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def patch(self, path: str, body: Any) -> Any:
        return self._call("PATCH", path, body)

    def post(self, path: str, body: Any) -> Any:
        return self._call("POST", path, body)


def wait(what: str, probe: Any, timeout: float, interval: float = 2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TrialFailed(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def failed_tasks(api: Api, dag_id: str, run_id: str) -> str:
    tis = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
    bad = [f"{t['task_id']}={t['state']}" for t in tis if t["state"] not in ("success", "skipped")]
    return ", ".join(bad) or "no failed task"


def wait_run(api: Api, dag_id: str, run_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        run: dict[str, Any] = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        return run if run["state"] in ("success", "failed") else None

    started = time.monotonic()
    run = wait(f"{dag_id} run {run_id}", finished, RUN_TIMEOUT)
    if run["state"] != "success":
        raise TrialFailed(
            f"{dag_id} run {run_id} failed ({failed_tasks(api, dag_id, run_id)}): see its task logs in "
            "the UI or `docker compose logs airflow-scheduler`"
        )
    print(f"  {dag_id}: success in {time.monotonic() - started:.0f}s ({run['run_type']} run {run_id})")
    return run


def wait_for_dags(api: Api, dag_ids: set[str]) -> None:
    def parsed() -> bool:
        found = {d["dag_id"] for d in api.get("/api/v2/dags?limit=1000")["dags"]}
        return dag_ids <= found

    wait(f"the dag-processor to parse {sorted(dag_ids)}", parsed, 180)
    errors = api.get("/api/v2/importErrors?limit=100")["import_errors"]
    if errors:
        files = ", ".join(e["filename"] for e in errors)
        raise TrialFailed(f"import errors in {files}: see GET /api/v2/importErrors")


def trigger(api: Api, dag_id: str) -> str:
    """Trigger ``dag_id`` for the date the scheduler would run next, then unpause it.

    Unpausing a scheduled DAG makes the scheduler create the run for its latest interval; with
    max_active_runs=1 ours would wait behind it. Taking that logical date first leaves the scheduler
    nothing to create ("run already exists"), so each DAG runs once.
    """
    logical_date = api.get(f"/api/v2/dags/{dag_id}")["next_dagrun_logical_date"]
    run = api.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": logical_date, "conf": {}})
    api.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False})
    return str(run["dag_run_id"])


def run_all(api: Api, dags_dir: Path) -> None:
    dag_ids = {p.stem for p in dags_dir.glob("*.py")}
    wait_for_dags(api, dag_ids)
    unknown = dag_ids - set(ORDER) - {ASSET_SCHEDULED}
    order = [d for d in ORDER if d in dag_ids] + sorted(unknown)
    # Unpause the Asset-scheduled DAG first, so the backup's event starts it.
    api.patch(f"/api/v2/dags/{ASSET_SCHEDULED}", {"is_paused": False})
    before = {r["dag_run_id"] for r in api.get(f"/api/v2/dags/{ASSET_SCHEDULED}/dagRuns")["dag_runs"]}
    for dag_id in order:
        wait_run(api, dag_id, trigger(api, dag_id))

    def asset_run() -> dict[str, Any] | None:
        runs = api.get(f"/api/v2/dags/{ASSET_SCHEDULED}/dagRuns")["dag_runs"]
        new = [r for r in runs if r["dag_run_id"] not in before and r["run_type"] == "asset_triggered"]
        return new[0] if new else None

    run = wait(f"{ASSET_SCHEDULED} to be started by the backup's Asset event", asset_run, 120)
    wait_run(api, ASSET_SCHEDULED, run["dag_run_id"])


def run_on_worker(api: Api, dag_id: str, hostname: str) -> None:
    run = api.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": {}})
    run_id = str(run["dag_run_id"])
    api.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False})
    wait_run(api, dag_id, run_id)
    tis = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
    elsewhere = [
        f"{t['task_id']}@{t['hostname']}"
        for t in tis
        if t["state"] == "success" and t["hostname"] != hostname
    ]
    if elsewhere or not tis:
        raise TrialFailed(f"{dag_id}: tasks did not run on the Celery worker {hostname}: {elsewhere}")
    print(f"  {dag_id}: {len(tis)} task(s) ran on the Celery worker {hostname}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    all_ = sub.add_parser("run-all")
    all_.add_argument("--url", required=True)
    all_.add_argument("--dags-dir", type=Path, required=True)
    worker = sub.add_parser("run-on-worker")
    worker.add_argument("--url", required=True)
    worker.add_argument("--dag", required=True)
    worker.add_argument("--worker-hostname", required=True)
    args = parser.parse_args(argv)
    password = os.environ.get("AIRFLOW_OPS_TRIAL_PASSWORD", "")
    if not password:
        print(
            "trial.py: AIRFLOW_OPS_TRIAL_PASSWORD is empty: run it through tests/compose/run.sh",
            file=sys.stderr,
        )
        return 2
    try:
        api = Api(args.url, password)
        if args.command == "run-all":
            run_all(api, args.dags_dir)
        else:
            run_on_worker(api, args.dag, args.worker_hostname)
    except TrialFailed as exc:
        print(f"test-compose: DAGs: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
