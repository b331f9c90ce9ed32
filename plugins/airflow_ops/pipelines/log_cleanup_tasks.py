"""Task bodies of the log cleanup DAG (imported inside tasks, so parsing stays cheap)."""

from __future__ import annotations

import logging
import re
import socket
import time
from typing import Any

from airflow_ops.config.log_cleanup import LogCleanupConfig
from airflow_ops.logcleanup.roots import (
    DangerousRootError,
    LogRoot,
    airflow_roots,
    check_root,
    protected_paths,
)
from airflow_ops.logcleanup.sweep import LogSweeper, RetentionPolicy, RootStats
from airflow_ops.report import RunReport, publish

log = logging.getLogger(__name__)


def resolve_roots(cfg: LogCleanupConfig, queue: str) -> list[LogRoot]:
    roots = airflow_roots(
        cfg.task_logs,
        cfg.dag_processor_logs and queue == cfg.effective_dag_processor_queue,
        cfg.extra_roots,
    )
    # Every root is checked before anything is deleted: one bad root fails the whole run.
    protected = protected_paths()
    checked: list[LogRoot] = []
    for root in roots:
        real = check_root(root, protected)
        checked.append(LogRoot(root.label, real, root.dag_layout, root.source))
    return checked


def sweep_roots(
    roots: list[LogRoot],
    policy: RetentionPolicy,
    *,
    dry_run: bool,
    remove_empty_dirs: bool = True,
    archive: Any = None,
    s3_client: Any = None,
    run_key: str = "manual",
) -> list[RootStats]:
    """Sweep each root once; roots nested in another are skipped by the outer walk and swept alone."""
    import os

    ids: set[tuple[int, int]] = set()
    seen: set[str] = set()
    unique: list[LogRoot] = []
    for root in roots:
        if root.path in seen:
            continue
        seen.add(root.path)
        unique.append(root)
        try:
            st = os.stat(root.path)
        except OSError:
            continue
        ids.add((st.st_dev, st.st_ino))
    out: list[RootStats] = []
    for root in unique:
        try:
            own = os.stat(root.path)
            skip = ids - {(own.st_dev, own.st_ino)}
        except OSError:
            skip = ids
        factory = None
        if archive is not None:
            from airflow_ops.logcleanup.archive import S3LogArchiver

            prefix = f"{archive.prefix.strip('/')}/{socket.gethostname()}/{root.label}/{run_key}"

            def factory(path: str, stats: RootStats, _prefix: str = prefix) -> Any:
                return S3LogArchiver(
                    client=s3_client,
                    bucket=archive.bucket,
                    key_prefix=_prefix,
                    root_path=path,
                    stats=stats,
                    max_files=archive.batch_max_files,
                    max_bytes=archive.batch_max_mb * 1024 * 1024,
                )

        sweeper = LogSweeper(
            policy,
            dry_run=dry_run,
            remove_empty_dirs=remove_empty_dirs,
            skip_dirs=skip,
            archiver_factory=factory,
        )
        stats = sweeper.sweep(root.label, root.path, root.dag_layout)
        log.info(
            "%s %s: %d files (%d bytes) %s, %d kept, skipped %s",
            root.label,
            root.path,
            stats.files_deleted,
            stats.bytes_deleted,
            "would be deleted" if dry_run else "deleted",
            stats.files_kept,
            dict(stats.skipped) or "none",
        )
        out.append(stats)
    return out


def sweep(cfg: LogCleanupConfig, queue: str, params: dict[str, Any], run_id: str) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowFailException

    started = time.monotonic()
    retention = int(params.get("retention_days") or cfg.retention_days)
    dry_run = bool(params.get("dry_run", False))
    try:
        roots = resolve_roots(cfg, queue)
    except DangerousRootError as exc:
        raise AirflowFailException(str(exc)) from None
    policy = RetentionPolicy(retention, dict(cfg.per_dag_retention_days), cfg.safety_window_hours)
    client = None
    if cfg.archive is not None and not dry_run:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        client = S3Hook(aws_conn_id=cfg.archive.aws_conn_id).get_conn()
    stats = sweep_roots(
        roots,
        policy,
        dry_run=dry_run,
        remove_empty_dirs=cfg.remove_empty_dirs,
        archive=cfg.archive,
        s3_client=client,
        run_key=re.sub(r"[^A-Za-z0-9_.-]", "_", run_id),
    )
    return {
        "queue": queue,
        "host": socket.gethostname(),
        "retention_days": retention,
        "dry_run": dry_run,
        "roots": [s.to_dict() for s in stats],
        "duration_s": round(time.monotonic() - started, 3),
    }


def report(cfg: LogCleanupConfig, results: list[dict[str, Any]], dag_id: str, run_id: str) -> dict[str, Any]:
    dry_run = any(r["dry_run"] for r in results)
    rows: list[dict[str, Any]] = []
    per_dag: dict[str, list[int]] = {}
    skipped: dict[str, int] = {}
    warnings: list[str] = []
    for res in results:
        for root in res["roots"]:
            rows.append(
                {
                    "queue": res["queue"],
                    "host": res["host"],
                    "root": root["path"],
                    "files": root["files_deleted"],
                    "bytes": root["bytes_deleted"],
                    "kept": root["files_kept"],
                    "dirs_removed": root["dirs_removed"],
                    "skipped": sum(root["skipped"].values()),
                    "seconds": root["duration_s"],
                }
            )
            for dag, v in root["per_dag"].items():
                acc = per_dag.setdefault(dag, [0, 0])
                acc[0] += v["files"]
                acc[1] += v["bytes"]
            for reason, n in root["skipped"].items():
                skipped[reason] = skipped.get(reason, 0) + n
            if root["non_utf8_names"]:
                skipped_note = f"{root['non_utf8_names']} non-UTF-8 names under {root['path']} (handled)"
                warnings.append(skipped_note)
            if root["error"]:
                warnings.append(f"{root['path']}: {root['error']}")
            warnings += [f"{root['path']}: {s}" for s in root["samples"][:5]]
    top = sorted(per_dag.items(), key=lambda kv: -kv[1][1])
    rep = RunReport(
        dag_id=dag_id,
        run_id=run_id,
        title="Log cleanup (dry run)" if dry_run else "Log cleanup",
        ok=True,
        summary={
            "mode": "dry run: nothing deleted" if dry_run else "delete",
            "files_" + ("would_delete" if dry_run else "deleted"): sum(r["files"] for r in rows),
            "bytes_" + ("would_free" if dry_run else "freed"): sum(r["bytes"] for r in rows),
            "roots": len(rows),
            "workers": ", ".join(f"{r['queue']}@{r['host']}" for r in results),
            "skipped": ", ".join(f"{k}={v}" for k, v in sorted(skipped.items())) or "none",
            "duration_s": round(max((r["duration_s"] for r in results), default=0.0), 3),
            # The ten DAGs that freed most; the per-root rows cover the rest.
            "per_dag": {k: {"files": v[0], "bytes": v[1]} for k, v in top[:10]},
            "dags_cleaned": len(top),
        },
        rows=rows,
        warnings=warnings[:20],
    )
    return publish(rep, cfg.note_conn_id)


# -- step entry points (MaintenanceStep calls these with the config and the task context) ------------
def sweep_step(cfg: LogCleanupConfig, context: Any) -> dict[str, Any]:
    return sweep(cfg, context["task"].queue, dict(context.get("params") or {}), context["dag_run"].run_id)


def report_step(cfg: LogCleanupConfig, context: Any) -> dict[str, Any]:
    from airflow_ops.pipelines.log_cleanup import sweep_task_id

    ti = context["ti"]
    results = [ti.xcom_pull(task_ids=sweep_task_id(q)) for q in cfg.worker_queues]
    dag_run = context["dag_run"]
    return report(cfg, [r for r in results if r], dag_run.dag_id, dag_run.run_id)
