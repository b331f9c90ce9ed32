"""Task glue of the metadata backup DAG: gather Airflow inputs, call the domain, return results.

Imported at parse time for the step references, so everything heavy is imported inside a step.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_ops.kinds.metadata_backup.schema import MetadataBackupConfig
    from airflow_ops.report import RunReport
    from airflow_ops.steps import Run


def full_restore_due(cfg: MetadataBackupConfig, when: dt.datetime, forced: bool) -> bool:
    from airflow_ops.kinds.metadata_backup.schema import WEEKDAYS

    return forced or WEEKDAYS[when.weekday()] in cfg.full_restore_days


def redacted_airflow_cfg() -> str:
    """The worker's airflow.cfg overlaid with its ``AIRFLOW__*`` variables, secrets redacted.

    Read from the file and the environment rather than ``conf.as_dict()``, which would run
    ``*_cmd`` commands and query secrets backends from inside the task.
    """
    import os

    from airflow.configuration import AIRFLOW_CONFIG, conf

    from airflow_ops.backup.sidecars import merged_config, redact_config

    sections = merged_config(AIRFLOW_CONFIG, dict(os.environ))
    sensitive = {(s.lower(), k.lower()) for s, k in getattr(conf, "sensitive_config_values", set())}
    return redact_config(sections, sensitive)


def worker_fernet_key() -> str:
    from airflow.configuration import conf

    return str(conf.get("core", "fernet_key", fallback="") or "")


def fernet_target(cfg: MetadataBackupConfig) -> Any:
    from airflow_ops.backup.service import FernetTarget
    from airflow_ops.connections import s3_client

    target = cfg.fernet_key_backup
    if target is None:
        return None
    if target.type == "s3":
        client = s3_client(target.aws_conn_id)
    else:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        client = AwsBaseHook(aws_conn_id=target.aws_conn_id, client_type="secretsmanager").get_conn()
    return FernetTarget(target.type, client, target.bucket, target.key, target.kms_key_id, target.secret_id)


def backup(cfg: MetadataBackupConfig, run: Run) -> dict[str, Any]:
    from importlib.metadata import version

    from airflow_ops.backup.dump import BackupRequest
    from airflow_ops.backup.layout import BackupLocation
    from airflow_ops.backup.service import take_backup
    from airflow_ops.backup.sidecars import fingerprint, package_list
    from airflow_ops.connections import postgres_target, s3_client

    req = BackupRequest(
        source=postgres_target(cfg.metadata_db_conn_id, "metadata DB to back up"),
        location=BackupLocation(cfg.bucket, cfg.prefix, run.when),
        dag_id=cfg.dag_id,
        source_conn_id=cfg.metadata_db_conn_id,
        pg_bin_dirs=list(cfg.pg_bin_dirs),
        compression=cfg.compression,
        chunk_bytes=cfg.multipart_chunk_mb << 20,
        concurrency=cfg.upload_concurrency,
        sse=cfg.sse,
        kms_key_id=cfg.kms_key_id,
        airflow_version=version("apache-airflow"),
    )
    fernet_key = worker_fernet_key()
    req.fernet_fingerprint = fingerprint(fernet_key) if fernet_key else None
    client = s3_client(cfg.aws_conn_id)
    result = take_backup(
        client,
        req,
        cleanup_client=lambda: s3_client(cfg.aws_conn_id),
        airflow_cfg=redacted_airflow_cfg() if cfg.save_airflow_cfg else None,
        packages=package_list() if cfg.save_packages else None,
        fernet_key=fernet_key,
        fernet_target=fernet_target(cfg),
    )
    reason = str(run.param("pin", "") or "").strip()
    if reason:
        # Pinned as soon as the dump is confirmed: retention (this run's or a later one) keeps it.
        from airflow_ops.backup.pins import pin_backup

        result["pin"] = pin_backup(
            client, cfg.bucket, cfg.prefix, req.location.folder, reason, by=f"{run.dag_id}/{run.run_id}"
        )
    return result


def verify(cfg: MetadataBackupConfig, run: Run, backup: dict[str, Any]) -> dict[str, Any]:
    from airflow_ops.backup.manifest import BackupManifest
    from airflow_ops.backup.verify import verify_backup
    from airflow_ops.connections import postgres_target, s3_client

    manifest = BackupManifest(**backup["manifest"])
    when = dt.datetime.fromisoformat(manifest.logical_date)
    full = full_restore_due(cfg, when, bool(run.param("force_full_restore", False)))
    scratch = postgres_target(cfg.restore_check_conn_id or cfg.metadata_db_conn_id, "scratch restore check")
    return verify_backup(
        s3_client(cfg.aws_conn_id), manifest, cfg.prefix, list(cfg.pg_bin_dirs), scratch if full else None
    )


def retention(cfg: MetadataBackupConfig, run: Run) -> dict[str, Any]:
    import dataclasses

    from airflow_ops.backup.retention import RetentionPolicy, apply_retention
    from airflow_ops.connections import s3_client

    dry_run = bool(run.param("retention_dry_run", cfg.retention.dry_run))
    policy = RetentionPolicy(cfg.retention.daily, cfg.retention.weekly, cfg.retention.monthly)
    result = apply_retention(s3_client(cfg.aws_conn_id), cfg.bucket, cfg.prefix, policy, dry_run=dry_run)
    return dataclasses.asdict(result)


def report(
    cfg: MetadataBackupConfig,
    run: Run,
    backup: dict[str, Any],
    verified: dict[str, Any],
    retention: dict[str, Any],
) -> RunReport:
    from airflow_ops.backup.manifest import BackupManifest
    from airflow_ops.backup.pins import describe
    from airflow_ops.report import mb

    manifest = BackupManifest(**backup["manifest"])
    fernet = backup["fernet"]
    warnings = [] if fernet["stored"] else [f"fernet key {fernet['warning']}"]
    removed = retention["expired"]
    pins = list(retention.get("pinned") or [])
    verb = "would remove" if retention["dry_run"] else "removed"
    rows = sum(manifest.table_row_counts.values())
    return run.report(
        title="Metadata DB backup",
        mode="dry_run" if retention["dry_run"] else "apply",
        ok=True,
        headline=f"backup {mb(manifest.size_bytes)} verified, dump {manifest.duration_seconds:g} s",
        metrics={
            "backup_bytes": manifest.size_bytes,
            "db_size_bytes": manifest.db_size_bytes,
            "dump_seconds": float(manifest.duration_seconds),
            "throughput_mb_s": float(manifest.mb_per_s),
            "tables": len(manifest.table_row_counts),
            "rows": rows,
            "verified": True,
            "backup_age_hours": _age_hours(manifest.finished_at),
            "full_restore_checked": verified["full_restore"] != "not due",
            "backups_expired": len(removed),
            "backups_kept": len(retention["kept"]),
            "bytes_expired": int(retention["bytes_freed"]),
            "fernet_key_saved": bool(fernet["stored"]),
        },
        details={
            "object": f"s3://{manifest.bucket}/{manifest.key}",
            "size": mb(manifest.size_bytes),
            "db size": mb(manifest.db_size_bytes),
            "compression": manifest.compression or "pg_dump default",
            "compression ratio": manifest.compression_ratio,
            "snapshot held s": manifest.snapshot_seconds,
            "dump s": manifest.duration_seconds,
            "throughput MB/s": manifest.mb_per_s,
            "sha256": manifest.sha256,
            "tables / rows": f"{len(manifest.table_row_counts)} / {rows}",
            "verification": f"sha256 ok, pg_restore --list ok ({verified['toc_entries']} entries)",
            "full restore": verified["full_restore"],
            "retention": f"{verb} {len(removed)} backup(s) ({mb(retention['bytes_freed'])}), "
            f"kept {len(retention['kept'])}" + (f", {len(pins)} pinned" if pins else ""),
            "pinned": "; ".join(describe(p) for p in pins) or "none",
            "fernet key needed": manifest.fernet_fingerprint
            or "unknown (no [core] fernet_key on the worker)",
            "fernet key": f"{fernet['location']} ({fernet['fingerprint']})"
            if fernet["stored"]
            else "NOT backed up",
        },
        rows=[{"retention": verb, "backup": folder} for folder in removed[:20]],
        warnings=warnings,
    )


def _age_hours(finished_at: str) -> float | None:
    """Hours since the dump finished (the verified backup's age), or None if the time is unreadable."""
    from airflow_ops.report import utc_now

    try:
        finished = dt.datetime.fromisoformat(finished_at)
    except (TypeError, ValueError):
        return None
    if finished.tzinfo is None:
        finished = finished.replace(tzinfo=dt.UTC)
    return round(max(0.0, (utc_now() - finished).total_seconds() / 3600), 4)
