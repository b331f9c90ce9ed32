"""Issue 13 section 1: SIGKILL a step's task process before, during and after its side effect.

One real Airflow (scheduler, dag-processor, triggerer, api-server; LocalExecutor) runs four DAGs
generated from the shipped kinds: a metadata backup, a log cleanup in archive mode, a DB cleanup
and a config export. For each kill point the test waits until the step's **task process** (the
task runner child of the Airflow supervisor, whose process title is ``airflow worker -- <task
instance id>``) is running, watches the side effect from outside (the moto server, the metadata
DB, the log tree, the process table), and sends SIGKILL at that moment. The supervisor reports the
try as ``up_for_retry``; the retry is started at once by clearing that task instance (the
scheduler's own retry waits ``retry_delay_minutes``, at least a minute; a clear runs the same next
try of the same run).

The levers are real: a metadata DB with a 500k-row table (the dump streams for seconds, the full
verify's scratch restore takes seconds), over 2,000 expired objects (three DeleteObjects batches),
log files of random bytes in batches above the multipart threshold, 120k purgeable log rows, and
the seconds an ``airflow db`` command takes to start.

The invariants are checked at the kill (before the retry) and after the run: no partial object at
a final key and no open multipart upload; no log file deleted unless it is in an uploaded archive;
no archive table dropped without a confirmed upload; every purged row in the DB or in S3; the
``latest-verified`` pointer at a verified backup; nothing the killed step started left running;
no temporary file of the bundle left in the tasks' TMPDIR once the run is over.
A point the kill may miss (the step's last action is a fast S3 call, then it ends) is recorded as
``missed`` in the matrix rather than faked; the deterministic points must be hit. The matrix is
written as JSON and Markdown under the test's tmp folder and printed.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg2
import pytest
import yaml

from airflow_ops.api_client import ApiError
from airflow_ops_tools.generator import render_all
from tests.harness import AirflowStack, MotoServer, PostgresServer, airflow_stack, wait_for

pytestmark = pytest.mark.airflow
REPO = Path(__file__).resolve().parents[2]
BACKUP_DAG, LOGS_DAG, CLEAN_DAG = "ops_kill_backup", "ops_kill_logs", "ops_kill_dbclean"
EXPORT_DAG, EXPORT_BUCKET, EXPORT_PREFIX = "ops_kill_export", "airflow-ops-exports", "kill-export"
FAKE_EXPORTS = 1100  # x 2 keys = 2,200 expired objects: three DeleteObjects batches
BUCKET, PREFIX = "airflow-ops-backups", "kill-backup"
LOG_BUCKET, LOG_PREFIX = "airflow-ops-logs", "kill-logs"
ARCHIVE_BUCKET, ARCHIVE_PREFIX = "airflow-ops-archive", "kill-dbclean"
DAY = 86_400
BALLAST_ROWS = 500_000
FAKE_FOLDERS = 700  # x 3 keys = 2,100 expired objects: three DeleteObjects batches
SEED_EVENT = "kill_matrix_seed"
SEED_LOG_ROWS = 120_000
SCRATCH_SQL = "SELECT datname FROM pg_database WHERE datname LIKE 'airflow_ops_restore_check_%'"
ARCHIVE_SQL = "SELECT tablename FROM pg_tables WHERE tablename LIKE '\\_airflow\\_deleted\\_\\_%'"
TERMINAL = {"success", "failed", "upstream_failed", "skipped", "removed"}
STAMP_FMT = "%Y-%m-%dT%H%M%SZ"


def _configs(log_root: Path) -> list[dict[str, Any]]:
    """The four DAGs: shipped kinds, test prefixes, and a schedule that never fires here (29 February,
    from today on): only the test's manual runs exist."""
    today = dt.datetime.now(dt.UTC).date().isoformat()
    common = {"start_date": today, "retries": 3, "retry_delay_minutes": 1, "schedule": "0 0 29 2 *"}
    backup = yaml.safe_load((REPO / "config" / "ops_metadata_backup.yml").read_text())
    backup.update(
        common,
        dag_id=BACKUP_DAG,
        prefix=PREFIX,
        compression="none",
        multipart_chunk_mb=5,
        full_restore_days=[],
        retention={"daily": 1, "weekly": 0, "monthly": 0, "dry_run": False},
        save_packages=True,
    )
    backup.pop("alerts", None)
    backup.pop("deadline", None)  # alerts through the channels popped above; kills make runs late
    logs = {
        "kind": "log_cleanup",
        "dag_id": LOGS_DAG,
        "tags": ["logs"],
        "retention_days": 30,
        "safety_window_hours": 24,
        "task_logs": False,
        "dag_processor_logs": False,
        "extra_roots": [str(log_root)],
        "archive": {
            "bucket": LOG_BUCKET,
            "prefix": LOG_PREFIX,
            "batch_max_files": 10_000,
            "batch_max_mb": 12,
        },
        **common,
    }
    clean = yaml.safe_load((REPO / "config" / "ops_db_cleanup.yml").read_text())
    clean.update(
        common,
        dag_id=CLEAN_DAG,
        tables=["log"],
        retention_days=30,
        table_retention_days={},
        window_days=3650,
        archive_prefix=ARCHIVE_PREFIX,
        backup_prefix=PREFIX,
    )
    clean.pop("alerts", None)
    export = yaml.safe_load((REPO / "config" / "ops_config_export.yml").read_text())
    export.update(
        common,
        dag_id=EXPORT_DAG,
        prefix=EXPORT_PREFIX,
        retention={"keep_last": 1, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0},
    )
    export.pop("alerts", None)
    return [backup, logs, clean, export]


# ------------------------------------------------------------------------------------ the matrix
@dataclass
class Point:
    step: str
    point: str
    lever: str
    deterministic: bool
    hit: bool = False
    observed: str = ""
    state_after_kill: str = ""
    try_killed: int = 0
    outcome: str = ""
    violations: list[str] = field(default_factory=list)


@dataclass
class Ctx:
    stack: AirflowStack
    s3: Any
    pg: PostgresServer
    root: Path
    log_root: Path
    points: list[Point] = field(default_factory=list)
    api: Any = None
    #: scratch restore databases our verify created (the server is shared: others' are not ours)
    scratch: set[str] = field(default_factory=set)
    foreign_scratch: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.api = self.stack.api()  # one JWT for the whole matrix
        self.foreign_scratch = {r[0] for r in self.admin_sql(SCRATCH_SQL)}

    def scratch_dbs(self) -> set[str]:
        """The scratch restore databases on the server now that are not from before the matrix."""
        return {r[0] for r in self.admin_sql(SCRATCH_SQL)} - self.foreign_scratch

    def sql(self, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = psycopg2.connect(self.stack.sql_alchemy_conn.replace("+psycopg2", ""))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(query, args or None)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def admin_sql(self, query: str) -> list[tuple[Any, ...]]:
        conn = psycopg2.connect(self.pg.admin_url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(query)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()


def _ti(ctx: Ctx, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    ti: dict[str, Any] = ctx.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
    return ti


def _task_process(ti_id: str) -> psutil.Process | None:
    """The task runner child: ``airflow worker -- <ti id>`` (its supervisor's title names the
    executor and the task instead)."""
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if ti_id in cmd and "LocalExecutor" not in cmd:
            return proc
    return None


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_at(
    ctx: Ctx,
    dag_id: str,
    run_id: str,
    task_id: str,
    point: Point,
    when: Callable[[], str | None],
    at_kill: Callable[[], list[str]] | None = None,
    timeout: float = 180,
) -> None:
    """Wait for the task process of the step's current try, SIGKILL it once ``when()`` reports what
    it saw, and start the retry. A step that ends first is recorded as missed."""
    api = ctx.api
    deadline = time.monotonic() + timeout
    proc: psutil.Process | None = None
    ti: dict[str, Any] = {}
    while proc is None:
        assert time.monotonic() < deadline, f"{point.step}/{point.point}: no task process ({ti.get('state')})"
        try:
            ti = _ti(ctx, dag_id, run_id, task_id)
        except ApiError:  # not created yet
            time.sleep(0.2)
            continue
        if ti["state"] in TERMINAL:
            point.outcome = f"missed: the step ended {ti['state']} before its process was seen"
            ctx.points.append(point)
            return
        if ti["state"] == "running":
            proc = _task_process(str(ti["id"]))
        if proc is None:
            time.sleep(0.05)
    point.try_killed = int(ti["try_number"])
    while True:
        assert time.monotonic() < deadline, f"{point.step}/{point.point}: kill point never reached"
        if not _alive(proc):
            point.outcome = "missed: the step finished before the kill point"
            # The moment it ended is a moment too: the invariants hold there (before the next step).
            point.violations += [f"as it ended: {v}" for v in (at_kill() if at_kill else [])]
            ctx.points.append(point)
            return
        seen = when()
        if seen:
            try:
                children = proc.children(recursive=True)
                proc.kill()
            except psutil.NoSuchProcess:
                point.outcome = "missed: the step finished as the kill point was seen"
                ctx.points.append(point)
                return
            point.hit, point.observed = True, seen
            break
        time.sleep(0.02)
    # What the step started (pg_dump, pg_restore, `airflow db ...`) must not outlive it.
    # (An orphan nobody reaps stays a zombie: that counts as ended.)
    settle = time.monotonic() + 10
    while any(_alive(c) for c in children) and time.monotonic() < settle:
        time.sleep(0.1)
    for orphan in [c for c in children if _alive(c)]:
        try:
            point.violations.append(f"left running after the kill: {' '.join(orphan.cmdline()[:4])}")
        except psutil.NoSuchProcess:
            continue

    def reported() -> str | None:
        state = str(_ti(ctx, dag_id, run_id, task_id)["state"])
        return state if state in {"up_for_retry", "failed", "success"} else None

    point.state_after_kill = wait_for(reported, 60, f"{task_id} to be reported after SIGKILL", 0.2)
    # The invariants hold at every moment, not only once the retry is done.
    point.violations += [f"at the kill: {v}" for v in (at_kill() if at_kill else [])]
    if point.state_after_kill != "success":
        api.request(
            "POST",
            f"/api/v2/dags/{dag_id}/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": [task_id],
                "only_failed": False,
                "reset_dag_runs": False,
            },
        )
    ctx.points.append(point)


def finish(ctx: Ctx, dag_id: str, run_id: str, points: list[Point], check: Callable[[], list[str]]) -> None:
    """Wait for the run; every point of it gets the run's verdict and the invariants checked after it."""
    run = ctx.stack.wait_run(dag_id, run_id, timeout=300)
    violations = check()
    # The bundle's temporary files (log batches, exported archive tables) do not outlive the run.
    left = sorted(p.name for p in (ctx.root / "tmp").iterdir() if p.name.startswith("airflow-ops-"))
    if left:
        violations.append(f"temporary files left in TMPDIR: {left[:5]}")
    if run.state != "success":
        print(f"\n{dag_id}/{run_id} ended {run.state}: {run.task_states}\n{run.log_text()[-4000:]}")
        violations = [*violations, f"the run ended {run.state} ({run.task_states})"]
    for p in points:
        if p.state_after_kill == "success":
            p.hit = False
            p.outcome = "missed: the kill came after the step had reported success"
        if not p.outcome:
            p.outcome = "retry succeeded" if run.state == "success" else f"run {run.state}"
        p.violations += violations


def _trigger(ctx: Ctx, dag_id: str, conf: dict[str, Any] | None = None) -> tuple[str, dt.datetime]:
    run_id = ctx.stack.trigger(dag_id, conf)
    run = ctx.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
    when = dt.datetime.fromisoformat(str(run["logical_date"] or run["run_after"]).replace("Z", "+00:00"))
    return run_id, when


# ------------------------------------------------------------------------------------ S3 helpers
def _keys(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.update({o["Key"]: int(o["Size"]) for o in page.get("Contents", [])})
    return out


def _uploads(s3: Any, bucket: str, prefix: str) -> list[str]:
    resp = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
    return [u["Key"] for u in resp.get("Uploads", [])]


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except Exception:
        return False
    return True


def _sha256(s3: Any, bucket: str, key: str) -> str:
    digest = hashlib.sha256()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for chunk in body.iter_chunks(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def _json(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


# ------------------------------------------------------------------------------------ invariants
def backup_invariants(ctx: Ctx, at_kill: bool = False) -> list[str]:
    """No partial object at a final key, no open upload, no verified marker without its backup, the
    pointer at a verified backup, no scratch database left (``at_kill``: what the killed attempt
    cannot have cleaned up yet, its open upload and scratch database, is the retry's to remove)."""
    s3, bad = ctx.s3, []
    if not at_kill and (ups := _uploads(s3, BUCKET, PREFIX + "/")):
        bad.append(f"open multipart uploads: {ups}")
    keys = _keys(s3, BUCKET, PREFIX + "/")
    folders: dict[str, set[str]] = {}
    for key in keys:
        folder, _, name = key.rpartition("/")
        if folder != PREFIX:
            folders.setdefault(folder, set()).add(name)
    for folder, names in sorted(folders.items()):
        if "verified.json" in names and not {"metadata.dump", "manifest.json"} <= names:
            bad.append(f"{folder}: verified.json without its dump and manifest ({sorted(names)})")
        if folder.startswith(f"{PREFIX}/2020-"):
            continue  # the seeded expired folders carry placeholder bodies
        if {"metadata.dump", "manifest.json", "verified.json"} <= names:
            manifest = _json(s3, BUCKET, f"{folder}/manifest.json")
            dump = f"{folder}/metadata.dump"
            if keys[dump] != manifest["size_bytes"] or _sha256(s3, BUCKET, dump) != manifest["sha256"]:
                bad.append(f"{folder}: verified, but the dump does not match its manifest")
    pointer_key = f"{PREFIX}/latest-verified.json"
    if pointer_key in keys:
        pointer = _json(s3, BUCKET, pointer_key)
        folder = pointer["key"].rsplit("/", 1)[0]
        names = folders.get(folder, set())
        if "verified.json" not in names or "metadata.dump" not in names:
            bad.append(f"pointer at {pointer['key']}, whose folder holds {sorted(names)}")
        elif _sha256(s3, BUCKET, pointer["key"]) != pointer["sha256"]:
            bad.append(f"pointer at {pointer['key']}, whose object is not the verified one")
        elif _json(s3, BUCKET, f"{folder}/verified.json")["sha256"] != pointer["sha256"]:
            bad.append(f"pointer at {pointer['key']} disagrees with its verified.json")
    scratch = set() if at_kill else ctx.scratch_dbs() & ctx.scratch
    if scratch:
        bad.append(f"scratch restore databases left: {sorted(scratch)}")
    return bad


def _seed_log_tree(root: Path) -> set[str]:
    """48 files of 512 KiB random bytes (two archive batches of 12 MB, each above the multipart
    threshold) and 400 small ones, all 40 days old; returns their paths relative to ``root``."""
    old = time.time() - 40 * DAY
    files: set[str] = set()
    for i in range(448):
        rel = f"dag_id=d{i % 4}/run_id=r{i // 16}/task_id=t{i % 16}/attempt=1.log"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(512 << 10) if i % 9 == 0 or i < 40 else f"line {i}\n".encode() * 20)
        os.utime(path, (old, old))
        files.add(rel)
    return files


def _archived_members(s3: Any) -> set[str]:
    names: set[str] = set()
    for key in _keys(s3, LOG_BUCKET, LOG_PREFIX + "/"):
        body = s3.get_object(Bucket=LOG_BUCKET, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            names |= set(tar.getnames())
    return names


def log_invariants(ctx: Ctx, seeded: set[str], at_kill: bool = False) -> list[str]:
    bad = []
    if not at_kill and (ups := _uploads(ctx.s3, LOG_BUCKET, LOG_PREFIX + "/")):
        bad.append(f"open multipart uploads: {ups}")
    present = {f for f in seeded if (ctx.log_root / f).exists()}
    lost = (seeded - present) - _archived_members(ctx.s3)
    if lost:
        bad.append(
            f"{len(lost)} log file(s) deleted without being in an uploaded archive: {sorted(lost)[:3]}"
        )
    return bad


def _archive_tables(ctx: Ctx) -> dict[str, int]:
    names = [r[0] for r in ctx.sql(ARCHIVE_SQL)]
    return {n: int(ctx.sql(f'SELECT count(*) FROM "{n}"')[0][0]) for n in names}


def _archived_ids(ctx: Ctx) -> tuple[set[int], dict[str, int]]:
    """Log ids in the uploaded CSVs, and archive table -> rows from every uploaded manifest."""
    ids: set[int] = set()
    confirmed: dict[str, int] = {}
    keys = _keys(ctx.s3, ARCHIVE_BUCKET, ARCHIVE_PREFIX + "/")
    for key in keys:
        if key.endswith("/manifest.json"):
            for obj in _json(ctx.s3, ARCHIVE_BUCKET, key)["objects"]:
                if obj["key"] in keys:
                    confirmed[obj["archive_table"]] = int(obj["rows"])
        elif key.endswith(".csv.gz"):
            raw = gzip.decompress(ctx.s3.get_object(Bucket=ARCHIVE_BUCKET, Key=key)["Body"].read())
            for row in csv.DictReader(io.StringIO(raw.decode())):
                ids.add(int(row["id"]))
    return ids, confirmed


def clean_invariants(ctx: Ctx, seeded: set[int], seen_tables: dict[str, int]) -> list[str]:
    bad = []
    if ups := _uploads(ctx.s3, ARCHIVE_BUCKET, ARCHIVE_PREFIX + "/"):
        bad.append(f"open multipart uploads: {ups}")
    in_s3, confirmed = _archived_ids(ctx)
    tables = _archive_tables(ctx)
    in_db = {int(r[0]) for r in ctx.sql("SELECT id FROM log WHERE event = %s", (SEED_EVENT,))}
    for name in tables:
        in_db |= {int(r[0]) for r in ctx.sql(f'SELECT id FROM "{name}" WHERE event = %s', (SEED_EVENT,))}
    lost = seeded - in_db - in_s3
    if lost:
        bad.append(f"{len(lost)} purged row(s) neither in the DB nor archived in S3")
    for name, rows in seen_tables.items():
        if name not in tables and name not in confirmed:
            bad.append(f"archive table {name} ({rows} rows) dropped without a confirmed upload")
    return bad


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def ctx(
    tmp_path_factory: pytest.TempPathFactory, pg_server: PostgresServer, s3_server: MotoServer
) -> Iterator[Ctx]:
    root = tmp_path_factory.mktemp("kill_matrix")
    config_dir, dags_dir, log_root = root / "config", root / "dags", root / "old-logs"
    for d in (config_dir, dags_dir, log_root):
        d.mkdir()
    for cfg in _configs(log_root):
        (config_dir / f"{cfg['dag_id']}.yml").write_text(yaml.safe_dump(cfg))
    for rendered in render_all(config_dir, dags_dir, root):
        rendered.dag_path.write_text(rendered.text)
    tmp = root / "tmp"  # the tasks' temporary directory: what a killed step leaves there is seen
    tmp.mkdir(mode=0o700)
    env = {
        "TMPDIR": str(tmp),
        "AIRFLOW_CONN_AWS_DEFAULT": s3_server.aws_conn_uri(),
        "AIRFLOW_OPS_TEST_MODE": "1",
        "AIRFLOW_CONN_OPS_EXPORT_KEY": "generic://:ops-test-export-key-6f1c2b9e8d7a4c3b5e@",
    }
    with airflow_stack(root / "home", pg_server, dags_dir, REPO / "plugins", extra_env=env) as stack:
        stack.wait_for_dags([BACKUP_DAG, LOGS_DAG, CLEAN_DAG, EXPORT_DAG])
        context = Ctx(stack, s3_server.client(), pg_server, root, log_root)
        yield context
        _write_matrix(context)


def _write_matrix(ctx: Ctx) -> None:
    rows = [asdict(p) for p in ctx.points]
    (ctx.root / "kill-matrix.json").write_text(json.dumps(rows, indent=2))
    lines = [
        "| step | kill point | lever | hit | seen at the kill | state after kill | outcome | invariants |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in ctx.points:
        inv = "hold" if not p.violations else "; ".join(p.violations)
        hit = ("yes" if p.hit else "no") + ("" if p.deterministic else " (best effort)")
        lines.append(
            f"| {p.step} | {p.point} | {p.lever} | {hit} | {p.observed} | {p.state_after_kill} "
            f"(try {p.try_killed}) | {p.outcome} | {inv} |"
        )
    text = "\n".join(lines) + "\n"
    (ctx.root / "kill-matrix.md").write_text(text)
    print(f"\nKill matrix ({ctx.root / 'kill-matrix.md'}):\n{text}")


# ------------------------------------------------------------------------------------ backup
def _backup_points(ctx: Ctx, run_id: str, when: dt.datetime, points: list[tuple[str, Point]]) -> None:
    folder = f"{PREFIX}/{when.astimezone(dt.UTC).strftime(STAMP_FMT)}"
    dump, manifest = f"{folder}/metadata.dump", f"{folder}/manifest.json"
    s3 = ctx.s3

    def before() -> str | None:
        if _uploads(s3, BUCKET, dump) or _exists(s3, BUCKET, dump):
            return None
        return "task process up; no upload and no object at the dump key yet"

    def during_upload() -> str | None:
        ups = [u for u in s3.list_multipart_uploads(Bucket=BUCKET, Prefix=dump).get("Uploads", [])]
        if not ups:
            return None
        parts = s3.list_parts(Bucket=BUCKET, Key=dump, UploadId=ups[0]["UploadId"]).get("Parts", [])
        return f"multipart upload open at the dump key, {len(parts)} part(s) stored" if parts else None

    def after_upload() -> str | None:
        if _exists(s3, BUCKET, dump) and _exists(s3, BUCKET, manifest):
            return "dump complete and manifest written; sidecars pending"
        return None

    def verify_before() -> str | None:
        return None if _exists(s3, BUCKET, f"{folder}/verified.json") else "no verified.json yet"

    def verify_during() -> str | None:
        dbs = ctx.scratch_dbs()
        ctx.scratch |= dbs
        return f"scratch restore running into {sorted(dbs)[0]}" if dbs else None

    def verify_after() -> str | None:
        try:
            pointer = _json(s3, BUCKET, f"{PREFIX}/latest-verified.json")
        except Exception:
            return None
        return (
            "verified.json written and the pointer moved to this backup" if pointer["key"] == dump else None
        )

    def retention_before() -> str | None:
        return "task process up; nothing deleted yet"

    # The 400th fake folder's manifest goes in the second of three DeleteObjects batches, whether
    # the markers go first or each folder goes in turn: once it is gone the step is mid-way, with
    # the third batch still to send.
    probe = f"{_fake_folder(400)}/manifest.json"

    def retention_during() -> str | None:
        if _exists(s3, BUCKET, probe):
            return None
        return "the 400th expired folder's manifest deleted (batch 2 of 3)"

    def retention_after() -> str | None:
        older = [f for f in _folders(s3) if f < folder and not f.startswith(f"{PREFIX}/2020-")]
        return "expired backups deleted, task not yet ended" if not older else None

    observers = {
        "backup:before": before,
        "backup:during": during_upload,
        "backup:after": after_upload,
        "verify:before": verify_before,
        "verify:during": verify_during,
        "verify:after": verify_after,
        "retention:before": retention_before,
        "retention:during": retention_during,
        "retention:after": retention_after,
    }
    for task_id, point in points:
        kill_at(
            ctx,
            BACKUP_DAG,
            run_id,
            task_id,
            point,
            observers[f"{task_id}:{point.point}"],
            lambda: backup_invariants(ctx, at_kill=True),
        )


def _folders(s3: Any) -> list[str]:
    return sorted({k.rsplit("/", 1)[0] for k in _keys(s3, BUCKET, PREFIX + "/") if k.count("/") >= 2})


def _torn(keys: dict[str, int]) -> list[str]:
    """Folders that look verified (verified.json) without their dump and manifest."""
    folders: dict[str, set[str]] = {}
    for key in keys:
        folder, _, name = key.rpartition("/")
        folders.setdefault(folder, set()).add(name)
    return [
        f for f, n in folders.items() if "verified.json" in n and not {"metadata.dump", "manifest.json"} <= n
    ]


def _fake_folder(i: int) -> str:
    return f"{PREFIX}/{(dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i)).strftime(STAMP_FMT)}"


def _seed_expired(s3: Any) -> None:
    def put(i: int) -> None:
        folder = _fake_folder(i)
        for name in ("manifest.json", "metadata.dump", "verified.json"):
            s3.put_object(Bucket=BUCKET, Key=f"{folder}/{name}", Body=b"{}")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(FAKE_FOLDERS)))


@pytest.fixture(scope="module")
def backup_matrix(ctx: Ctx) -> list[Point]:
    ctx.sql(
        "CREATE TABLE kill_ballast AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS v"
        f" FROM generate_series(1, {BALLAST_ROWS}) g"
    )
    done: list[Point] = []
    plans: list[tuple[dict[str, Any], list[tuple[str, Point]]]] = [
        (
            {},
            [
                ("backup", Point("backup upload", "before", "kill at task start", True)),
                ("verify", Point("verify", "before", "kill at task start", True)),
                ("retention", Point("retention", "before", "kill at task start", True)),
            ],
        ),
        (
            {"force_full_restore": True},
            [
                ("backup", Point("backup upload", "during", "36 MB dump, 5 MB parts", True)),
                ("verify", Point("verify", "during", "full scratch restore of 500k rows", True)),
                ("retention", Point("retention", "during", "2,100 expired objects, 3 batches", True)),
            ],
        ),
        (
            {},
            [
                ("backup", Point("backup upload", "after", "sidecars after the dump", False)),
                ("verify", Point("verify", "after", "pointer moved, before the task ends", False)),
                ("retention", Point("retention", "after", "objects gone, before the task ends", False)),
            ],
        ),
    ]
    run_id, when = "", dt.datetime.now(dt.UTC)
    for conf, points in plans:
        if conf.get("force_full_restore"):
            _seed_expired(ctx.s3)
        time.sleep(1.1)  # each run's backup folder is another second
        run_id, when = _trigger(ctx, BACKUP_DAG, conf)
        _backup_points(ctx, run_id, when, points)
        mine = [p for _, p in points]
        finish(ctx, BACKUP_DAG, run_id, mine, lambda: backup_invariants(ctx))
        done += mine
    done.append(_rerun_verified_date(ctx, run_id, when))
    return done


def _rerun_verified_date(ctx: Ctx, run_id: str, when: dt.datetime) -> Point:
    """Re-run the last, verified date (the documented way: clear the finished run): its new dump
    replaces the one the pointer names. Killed once the new manifest landed, before verify."""
    folder = f"{PREFIX}/{when.astimezone(dt.UTC).strftime(STAMP_FMT)}"
    old = _json(ctx.s3, BUCKET, f"{folder}/manifest.json")["started_at"]
    assert _json(ctx.s3, BUCKET, f"{PREFIX}/latest-verified.json")["key"] == f"{folder}/metadata.dump"
    ctx.api.request(
        "POST",
        f"/api/v2/dags/{BACKUP_DAG}/clearTaskInstances",
        json={
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": ["backup"],
            "only_failed": False,
            "include_downstream": True,
            "reset_dag_runs": True,
        },
    )

    def replaced() -> str | None:
        try:
            started = _json(ctx.s3, BUCKET, f"{folder}/manifest.json")["started_at"]
        except Exception:
            return None
        return "the date's new dump and manifest landed, not verified yet" if started != old else None

    point = Point("backup upload", "after, re-run of the verified date", "clear the finished run", False)
    kill_at(ctx, BACKUP_DAG, run_id, "backup", point, replaced, lambda: backup_invariants(ctx, at_kill=True))
    finish(ctx, BACKUP_DAG, run_id, [point], lambda: backup_invariants(ctx))
    return point


def test_backup_steps_survive_sigkill_at_every_point(backup_matrix: list[Point]) -> None:
    for p in backup_matrix:
        assert not p.violations, (p.step, p.point, p.violations)
        assert p.hit or not p.deterministic, (p.step, p.point, p.outcome)
        if p.hit:
            assert p.state_after_kill in ("up_for_retry", "failed"), asdict(p)


# ------------------------------------------------------------------------------------ log archive
@pytest.fixture(scope="module")
def log_matrix(ctx: Ctx) -> list[Point]:
    seeded = _seed_log_tree(ctx.log_root)
    s3 = ctx.s3
    run_id, _ = _trigger(ctx, LOGS_DAG)

    def before() -> str | None:
        gone = [f for f in seeded if not (ctx.log_root / f).exists()]
        objects = _keys(s3, LOG_BUCKET, LOG_PREFIX + "/")
        return None if gone or objects else "task process up; no archive uploaded, no file deleted"

    def during() -> str | None:
        ups = _uploads(s3, LOG_BUCKET, LOG_PREFIX + "/")
        return f"multipart upload open at {ups[0].rsplit('/', 1)[-1]}" if ups else None

    def after() -> str | None:
        objects = _keys(s3, LOG_BUCKET, LOG_PREFIX + "/")
        if not objects:
            return None
        gone = sum(1 for f in seeded if not (ctx.log_root / f).exists())
        return f"{len(objects)} archive(s) uploaded and confirmed, {gone} file(s) deleted so far"

    points = [
        (Point("log archive", "before", "kill at task start", True), before),
        (Point("log archive", "during", "12 MB random-bytes batch, multipart", True), during),
        (Point("log archive", "after", "first batch confirmed, deletes racing", True), after),
    ]
    for point, when in points:
        kill_at(
            ctx, LOGS_DAG, run_id, "sweep_default", point, when, lambda: log_invariants(ctx, seeded, True)
        )
    mine = [p for p, _ in points]

    def check() -> list[str]:
        bad = log_invariants(ctx, seeded)
        if left := [f for f in seeded if (ctx.log_root / f).exists()]:
            bad.append(f"{len(left)} expired files left after the retry")
        return bad

    finish(ctx, LOGS_DAG, run_id, mine, check)
    return mine


def test_log_archive_survives_sigkill_at_every_point(log_matrix: list[Point]) -> None:
    for p in log_matrix:
        assert not p.violations, (p.step, p.point, p.violations)
        assert p.hit, (p.step, p.point, p.outcome)


# ------------------------------------------------------------------------------------ db clean
@pytest.fixture(scope="module")
def clean_matrix(ctx: Ctx, backup_matrix: list[Point]) -> list[Point]:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=200)
    ctx.sql(
        "INSERT INTO log (dttm, event, extra, owner) SELECT %s + g * interval '1 second', %s,"
        " md5(g::text), 'kill' FROM generate_series(1, %s) g",
        (old, SEED_EVENT, SEED_LOG_ROWS),
    )
    seeded = {int(r[0]) for r in ctx.sql("SELECT id FROM log WHERE event = %s", (SEED_EVENT,))}
    seen_tables: dict[str, int] = {}

    def tables_now() -> dict[str, int]:
        now = _archive_tables(ctx)
        seen_tables.update(now)
        return now

    def child(name: str) -> str | None:
        for proc in psutil.process_iter(["cmdline"]):
            cmd = proc.info.get("cmdline") or []
            if "db" in cmd and name in cmd:
                tables_now()
                return f"`airflow db {name}` running (pid {proc.pid})"
        return None

    run_id, _ = _trigger(ctx, CLEAN_DAG)
    key_prefix = f"{ARCHIVE_PREFIX}/{''.join(c if c.isalnum() or c in '_.-' else '_' for c in run_id)}"

    def clean_during() -> str | None:
        now = _archive_tables(ctx)
        return f"archive table {next(iter(now))} filling" if now else None

    def uploaded() -> str | None:
        if _exists(ctx.s3, ARCHIVE_BUCKET, f"{key_prefix}/manifest.json"):
            return f"CSVs and manifest confirmed in S3; archive tables {sorted(tables_now())} not dropped yet"
        return None

    points: list[tuple[str, Point, Callable[[], str | None]]] = [
        ("clean", Point("db clean: clean", "during", "120k rows past retention", True), clean_during),
        (
            "archive",
            Point("db clean: export-archived", "during", "the CLI's start-up and export", True),
            lambda: child("export-archived"),
        ),
        ("archive", Point("db clean: upload", "after", "manifest confirmed, before drop", True), uploaded),
        (
            "archive",
            Point("db clean: drop-archived", "during", "the CLI's start-up", True),
            lambda: child("drop-archived"),
        ),
    ]
    for task_id, point, when in points:
        kill_at(ctx, CLEAN_DAG, run_id, task_id, point, when)
    mine = [p for _, p, _ in points]

    def check() -> list[str]:
        bad = clean_invariants(ctx, seeded, seen_tables)
        if left := ctx.sql("SELECT count(*) FROM log WHERE event = %s", (SEED_EVENT,))[0][0]:
            bad.append(f"{left} rows past retention still in log after the retry")
        if tables := _archive_tables(ctx):
            bad.append(f"archive tables left after the retry: {sorted(tables)}")
        return bad

    finish(ctx, CLEAN_DAG, run_id, mine, check)
    return mine


def test_db_clean_steps_survive_sigkill_at_every_point(clean_matrix: list[Point]) -> None:
    for p in clean_matrix:
        assert not p.violations, (p.step, p.point, p.violations)
        assert p.hit, (p.step, p.point, p.outcome)


# ------------------------------------------------------------------------------------ config export
def export_invariants(ctx: Ctx, at_kill: bool = False) -> list[str]:
    """No open upload; every manifest (what marks an export complete) has its object, whose sha256
    is the manifest's."""
    s3, bad = ctx.s3, []
    root = f"{EXPORT_PREFIX}/{EXPORT_DAG}/"
    if not at_kill and (ups := _uploads(s3, EXPORT_BUCKET, root)):
        bad.append(f"open multipart uploads: {ups}")
    keys = _keys(s3, EXPORT_BUCKET, root)
    for key in keys:
        if not key.endswith(".manifest.json"):
            continue
        obj = key[: -len(".manifest.json")]
        if obj not in keys:
            bad.append(f"manifest {key} without its object")
        elif "/2020/" not in key:
            want = _json(s3, EXPORT_BUCKET, key)["object_sha256"]
            if (
                hashlib.sha256(s3.get_object(Bucket=EXPORT_BUCKET, Key=obj)["Body"].read()).hexdigest()
                != want
            ):
                bad.append(f"{obj} does not match its manifest")
    return bad


def _fake_export(i: int) -> str:
    when = dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i)
    return f"{EXPORT_PREFIX}/{EXPORT_DAG}/{when:%Y/%m}/config-export-{when:%Y%m%dT%H%M%SZ}.aopscx"


def _seed_expired_exports(s3: Any) -> None:
    def put(i: int) -> None:
        key = _fake_export(i)
        s3.put_object(Bucket=EXPORT_BUCKET, Key=key, Body=b"x")
        s3.put_object(Bucket=EXPORT_BUCKET, Key=key + ".manifest.json", Body=b"{}")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(FAKE_EXPORTS)))


@pytest.fixture(scope="module")
def export_matrix(ctx: Ctx, clean_matrix: list[Point]) -> list[Point]:
    s3 = ctx.s3
    root = f"{EXPORT_PREFIX}/{EXPORT_DAG}/"
    done: list[Point] = []

    def export_key(when: dt.datetime) -> str:
        when = when.astimezone(dt.UTC)
        return f"{root}{when:%Y/%m}/config-export-{when:%Y%m%dT%H%M%SZ}.aopscx"

    # Run 1: the upload and the retention killed at their start.
    run_id, when = _trigger(ctx, EXPORT_DAG)
    first = export_key(when)

    def before() -> str | None:
        return None if _exists(s3, EXPORT_BUCKET, first) else "task process up; no export object yet"

    points1: list[tuple[str, Point, Callable[[], str | None]]] = [
        ("export", Point("export upload", "before", "kill at task start", True), before),
        ("apply_retention", Point("export retention", "before", "kill at task start", True), lambda: "up"),
    ]
    # Run 2 (after 2,200 expired objects are seeded): the upload killed once confirmed; retention
    # killed between two DeleteObjects batches, then once everything expired is gone.
    second = ""

    def after() -> str | None:
        if _exists(s3, EXPORT_BUCKET, second + ".manifest.json"):
            return "object and manifest confirmed; task not yet ended"
        return None

    # The 700th fake's object goes in the second of three batches, whether the manifests go first
    # or each export's object and manifest go together.
    probe = _fake_export(700)

    def retention_during() -> str | None:
        if _exists(s3, EXPORT_BUCKET, probe):
            return None
        return "the 700th expired export's object deleted (batch 2 of 3)"

    def retention_after() -> str | None:
        gone = not _keys(s3, EXPORT_BUCKET, f"{root}2020/") and not _exists(s3, EXPORT_BUCKET, first)
        return "every expired export deleted; task not yet ended" if gone else None

    points2: list[tuple[str, Point, Callable[[], str | None]]] = [
        ("export", Point("export upload", "after", "manifest confirmed, before the task ends", False), after),
        (
            "apply_retention",
            Point("export retention", "during", "2,200 expired objects, 3 batches", True),
            retention_during,
        ),
        (
            "apply_retention",
            Point("export retention", "after", "objects gone, before the task ends", False),
            retention_after,
        ),
    ]
    unreachable = Point("export upload", "during", "none: one PutObject of a few KB", False)
    unreachable.outcome = (
        "not attempted: the object and its manifest are single PutObject calls (no multipart); "
        "there is no moment to observe between a request and its completion"
    )
    ctx.points.append(unreachable)
    for n, points in enumerate((points1, points2)):
        if n:
            _seed_expired_exports(s3)
            time.sleep(1.1)
            run_id, when = _trigger(ctx, EXPORT_DAG)
            second = export_key(when)
        for task_id, point, cond in points:
            kill_at(ctx, EXPORT_DAG, run_id, task_id, point, cond, lambda: export_invariants(ctx, True))
        mine = [p for _, p, _ in points]
        finish(ctx, EXPORT_DAG, run_id, mine, lambda: export_invariants(ctx))
        done += mine
    return done


def test_config_export_survives_sigkill_at_every_point(export_matrix: list[Point]) -> None:
    for p in export_matrix:
        assert not p.violations, (p.step, p.point, p.violations)
        assert p.hit or not p.deterministic, (p.step, p.point, p.outcome)


def test_the_matrix_covers_every_destructive_step(
    ctx: Ctx,
    backup_matrix: list[Point],
    log_matrix: list[Point],
    clean_matrix: list[Point],
    export_matrix: list[Point],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The matrix artifact (JSON and Markdown in the test's tmp folder), printed."""
    with capsys.disabled():
        _write_matrix(ctx)
    steps = {p.step for p in ctx.points}
    assert steps >= {
        "backup upload",
        "verify",
        "retention",
        "log archive",
        "db clean: clean",
        "db clean: export-archived",
        "db clean: upload",
        "db clean: drop-archived",
        "export upload",
        "export retention",
    }
    for step in steps:
        assert {"before", "during", "after"} & {p.point for p in ctx.points if p.step == step and p.hit}
