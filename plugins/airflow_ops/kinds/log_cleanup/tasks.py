"""Task glue of the log cleanup DAG: gather Airflow inputs, call the domain, return results.

Imported at parse time for the step references, so everything heavy is imported inside a step.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_ops.kinds.log_cleanup.schema import LogCleanupConfig
    from airflow_ops.logcleanup.roots import LogRoot
    from airflow_ops.report import RunReport
    from airflow_ops.steps import Run


def resolve_roots(cfg: LogCleanupConfig, queue: str) -> list[LogRoot]:
    from airflow_ops.logcleanup.roots import LogRoot, airflow_roots, check_root, protected_paths

    roots = airflow_roots(
        cfg.task_logs,
        cfg.dag_processor_logs and queue == cfg.effective_dag_processor_queue,
        cfg.extra_roots,
    )
    # Every root is checked before anything is deleted: one bad root fails the whole run.
    protected = protected_paths()
    return [LogRoot(r.label, check_root(r, protected), r.dag_layout, r.source) for r in roots]


def sweep(cfg: LogCleanupConfig, run: Run) -> dict[str, Any]:
    import shutil
    import socket
    import time

    from airflow_ops.compat import fail_exception

    AirflowFailException = fail_exception()

    from airflow_ops.logcleanup.floor import FloorPolicy
    from airflow_ops.logcleanup.roots import DangerousRootError
    from airflow_ops.logcleanup.service import ArchiveTarget, sweep_roots
    from airflow_ops.logcleanup.sweep import RetentionPolicy

    started = time.monotonic()
    retention = int(run.param("retention_days", cfg.retention_days))
    dry_run = bool(run.param("dry_run", False))
    try:
        roots = resolve_roots(cfg, run.queue)
    except DangerousRootError as exc:
        raise AirflowFailException(str(exc)) from None
    policy = RetentionPolicy(retention, dict(cfg.per_dag_retention_days), cfg.safety_window_hours)
    cutoff = dt.datetime.fromtimestamp(policy.retention_cutoff(None), dt.UTC)
    archive = None
    if cfg.archive is not None and not dry_run:
        from airflow_ops.connections import s3_client

        a = cfg.archive
        archive = ArchiveTarget(
            s3_client(a.aws_conn_id), a.bucket, a.prefix, a.batch_max_files, a.batch_max_mb << 20
        )
    stats = sweep_roots(
        roots,
        policy,
        dry_run=dry_run,
        remove_empty_dirs=cfg.remove_empty_dirs,
        archive=archive,
        run_key=re.sub(r"[^A-Za-z0-9_.-]", "_", run.run_id),
        floor=FloorPolicy(
            cfg.min_free_pct,
            cfg.max_log_bytes,
            max(float(cfg.min_retention_hours or 0), cfg.safety_window_hours),
        ),
    )
    free = []
    for root in roots:
        try:
            free.append(shutil.disk_usage(root.path).free)
        except OSError:
            continue
    return {
        "queue": run.queue,
        "host": socket.gethostname(),
        "retention_days": retention,
        "cutoff": cutoff.isoformat(timespec="seconds"),
        "dry_run": dry_run,
        "roots": [s.to_dict() for s in stats],
        "free_bytes": min(free) if free else None,
        "duration_s": round(time.monotonic() - started, 3),
    }


#: The layout Airflow creates by default, reported as facts rather than warnings: another root
#: nested in this one (swept on its own) and the dag-processor's ``latest`` symlink.
_LAYOUT_REASONS = ("nested_root",)
_LAYOUT_SYMLINKS = ("latest",)


def is_layout_fact(sample: str) -> bool:
    """Whether a skip sample (``"<reason>: <path>"``) is expected layout, not something to look at."""
    reason, _, where = sample.partition(": ")
    if reason in _LAYOUT_REASONS:
        return True
    return reason == "symlink" and where.rstrip("/").rsplit("/", 1)[-1] in _LAYOUT_SYMLINKS


def report(cfg: LogCleanupConfig, run: Run, sweeps: list[dict[str, Any] | None]) -> RunReport:
    results = [r for r in sweeps if r]
    dry_run = any(r["dry_run"] for r in results)
    rows: list[dict[str, Any]] = []
    per_dag: dict[str, list[int]] = {}
    skipped: dict[str, int] = {}
    warnings: list[str] = []
    layout: list[str] = []
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
                warnings.append(f"{root['non_utf8_names']} non-UTF-8 names under {root['path']} (handled)")
            if root["error"]:
                warnings.append(f"{root['path']}: {root['error']}")
            if root.get("floor_note"):
                warnings.append(f"{res['host']} {root['path']}: {root['floor_note']}")
            samples = root["samples"]
            layout += [f"{root['path']}: {s}" for s in samples if is_layout_fact(s)]
            warnings += [f"{root['path']}: {s}" for s in samples if not is_layout_fact(s)][:5]
    top = sorted(per_dag.items(), key=lambda kv: -kv[1][1])
    files = sum(r["files"] for r in rows)
    freed = sum(r["bytes"] for r in rows)
    floor_roots = [root for res in results for root in res["roots"]]
    floor_files = sum(root.get("floor_files", 0) for root in floor_roots)
    floor_bytes = sum(root.get("floor_bytes", 0) for root in floor_roots)
    retention = max((r["retention_days"] for r in results), default=cfg.retention_days)
    free = [r["free_bytes"] for r in results if r.get("free_bytes") is not None]
    cutoffs = sorted({r["cutoff"] for r in results if r.get("cutoff")})
    overrides = ", ".join(f"{k}={v} d" for k, v in sorted(cfg.per_dag_retention_days.items()))
    from airflow_ops.report import mb

    verb = "would free" if dry_run else "freed"
    return run.report(
        title="Log cleanup",
        mode="dry_run" if dry_run else "apply",
        ok=True,
        headline=f"{verb} {mb(freed)} ({files} files) on {len(results)} worker(s), retention {retention} d"
        + (f" (before {cutoffs[0]})" if cutoffs else "")
        + (f"; the free-space floor forced {mb(floor_bytes)} of it" if floor_bytes else ""),
        metrics={
            "files_deleted": files,
            "bytes_freed": freed,
            "files_kept": sum(r["kept"] for r in rows),
            "dirs_removed": sum(r["dirs_removed"] for r in rows),
            "roots": len(rows),
            "workers": len(results),
            "retention_days": retention,
            "free_bytes_min": min(free) if free else None,
        },
        details={
            "retention_days": retention,
            # What "expired" meant for this run: files last written before the cutoff.
            "retention": f"{retention} d, cutoff {', '.join(cutoffs) or 'not computed (no worker swept)'}"
            + (f"; per-DAG: {overrides}" if overrides else ""),
            "cutoff": cutoffs[0] if cutoffs else None,
            "safety window h": cfg.safety_window_hours,
            "free-space floor": _floor_text(cfg, floor_files, floor_bytes),
            "workers": ", ".join(f"{r['queue']}@{r['host']}" for r in results),
            "skipped": ", ".join(f"{k}={v}" for k, v in sorted(skipped.items())) or "none",
            # The ten DAGs that freed most; the per-root rows cover the rest.
            "per_dag": {k: {"files": v[0], "bytes": v[1]} for k, v in top[:10]},
            "dags_cleaned": len(top),
            "layout": "; ".join(layout[:10]) or "none",
        },
        rows=rows,
        warnings=warnings[:20],
    )


def _floor_text(cfg: LogCleanupConfig, files: int, freed: int) -> str:
    from airflow_ops.report import mb

    limits = [f"{cfg.min_free_pct:g}% free" if cfg.min_free_pct is not None else ""]
    limits.append(f"logs <= {mb(cfg.max_log_bytes)}" if cfg.max_log_bytes is not None else "")
    shown = ", ".join(x for x in limits if x)
    if not shown:
        return "off (set min_free_pct or max_log_bytes)"
    return f"{shown}: forced {mb(freed)} ({files} files) beyond the age rule"
