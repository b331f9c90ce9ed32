"""Task bodies of the metadata backup DAG (imported inside tasks, so parsing stays cheap)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from airflow_ops.config.metadata_backup import WEEKDAYS, MetadataBackupConfig
from airflow_ops.connections import s3_client
from airflow_ops.report import RunReport, publish

log = logging.getLogger(__name__)


def backup_time(dag_run: Any) -> dt.datetime:
    """The date a run's backup is keyed on: the logical date, else (manual runs) run_after."""
    when = getattr(dag_run, "logical_date", None) or getattr(dag_run, "run_after", None)
    if when is None:
        raise ValueError(f"DAG run {dag_run!r} has neither logical_date nor run_after")
    when = when if isinstance(when, dt.datetime) else dt.datetime.fromisoformat(str(when))
    return when.astimezone(dt.UTC)


def full_restore_due(cfg: MetadataBackupConfig, when: dt.datetime, forced: bool) -> bool:
    return forced or WEEKDAYS[when.weekday()] in cfg.full_restore_days


def _airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow")


def take_backup(cfg: MetadataBackupConfig, dag_run: Any) -> dict[str, Any]:
    from airflow_ops.backup.dump import BackupRequest, run_backup
    from airflow_ops.backup.layout import CFG_NAME, PACKAGES_NAME, BackupLocation
    from airflow_ops.backup.s3io import put_bytes, sse_args
    from airflow_ops.backup.sidecars import package_list
    from airflow_ops.connections import postgres_target

    loc = BackupLocation(cfg.bucket, cfg.prefix, backup_time(dag_run))
    client = s3_client(cfg.aws_conn_id)
    req = BackupRequest(
        source=postgres_target(cfg.metadata_db_conn_id, "metadata DB to back up"),
        location=loc,
        dag_id=cfg.dag_id,
        source_conn_id=cfg.metadata_db_conn_id,
        pg_bin_dirs=list(cfg.pg_bin_dirs),
        compress_level=cfg.compress_level,
        chunk_bytes=cfg.multipart_chunk_mb << 20,
        concurrency=cfg.upload_concurrency,
        sse=cfg.sse,
        kms_key_id=cfg.kms_key_id,
        airflow_version=_airflow_version(),
    )
    manifest = run_backup(client, req, cleanup_client=lambda: s3_client(cfg.aws_conn_id))
    sse = sse_args(cfg.sse, cfg.kms_key_id)
    sidecars: list[str] = []
    if cfg.save_airflow_cfg:
        put_bytes(client, cfg.bucket, loc.key(CFG_NAME), redacted_airflow_cfg().encode(), "text/plain", sse)
        sidecars.append(CFG_NAME)
    if cfg.save_packages:
        put_bytes(client, cfg.bucket, loc.key(PACKAGES_NAME), package_list().encode(), "text/plain", sse)
        sidecars.append(PACKAGES_NAME)
    fernet = save_fernet_key(cfg)
    return {
        "manifest": dataclasses.asdict(manifest),
        "folder": loc.folder,
        "sidecars": sidecars,
        "fernet": dataclasses.asdict(fernet),
    }


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


def _fernet_key() -> str:
    from airflow.configuration import conf

    return str(conf.get("core", "fernet_key", fallback="") or "")


def save_fernet_key(cfg: MetadataBackupConfig) -> Any:
    from airflow_ops.backup.sidecars import (
        FernetStatus,
        fingerprint,
        save_fernet_key_s3,
        save_fernet_key_secretsmanager,
    )

    key = _fernet_key()
    target = cfg.fernet_key_backup
    if not key:
        return FernetStatus(False, "", "", "no [core] fernet_key is set on the worker: nothing to back up")
    if target is None:
        return FernetStatus(
            False,
            "",
            fingerprint(key),
            "fernet_key_backup is not configured: without the fernet key ("
            + fingerprint(key)
            + ") the connections and variables of a restored DB cannot be decrypted",
        )
    if target.type == "s3":
        assert target.bucket is not None
        return save_fernet_key_s3(
            s3_client(target.aws_conn_id), key, target.bucket, target.key, target.kms_key_id
        )
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    sm = AwsBaseHook(aws_conn_id=target.aws_conn_id, client_type="secretsmanager").get_conn()
    assert target.secret_id is not None
    return save_fernet_key_secretsmanager(sm, key, target.secret_id)


def verify_backup(
    cfg: MetadataBackupConfig, backed_up: dict[str, Any], force_full_restore: bool
) -> dict[str, Any]:
    from airflow_ops.backup.errors import VerificationError
    from airflow_ops.backup.manifest import BackupManifest
    from airflow_ops.backup.pgtools import select_tool
    from airflow_ops.backup.pointer import mark_verified
    from airflow_ops.backup.verify import check_archive, full_restore_check
    from airflow_ops.connections import postgres_target

    manifest = BackupManifest(**backed_up["manifest"])
    client = s3_client(cfg.aws_conn_id)
    major = int(manifest.server_version.split(".")[0])
    pg_restore = select_tool("pg_restore", major, list(cfg.pg_bin_dirs))
    result = check_archive(client, manifest, pg_restore)
    out: dict[str, Any] = {
        "sha256_ok": True,
        "toc_entries": result.toc_entries,
        "toc_tables": result.toc_tables,
        "full_restore": "not due",
    }
    when = dt.datetime.fromisoformat(manifest.logical_date)
    if full_restore_due(cfg, when, force_full_restore):
        conn_id = cfg.restore_check_conn_id or cfg.metadata_db_conn_id
        full = full_restore_check(
            client, manifest, pg_restore, postgres_target(conn_id, "scratch restore check")
        )
        if full.mismatches:
            shown = ", ".join(
                f"{t}: {a} in dump vs {b} restored" for t, (a, b) in list(full.mismatches.items())[:5]
            )
            raise VerificationError(
                f"scratch restore of s3://{manifest.bucket}/{manifest.key}: row counts differ for "
                f"{len(full.mismatches)} table(s): {shown}"
            )
        out["full_restore"] = f"ok ({full.tables_compared} tables match)"
    verified_at = dt.datetime.now(dt.UTC).isoformat()
    out["pointer_moved"] = mark_verified(
        client, manifest, cfg.prefix, verified_at, full_restore_checked=out["full_restore"] != "not due"
    )
    out["verified_at"] = verified_at
    return out


def apply_retention(cfg: MetadataBackupConfig, dry_run: bool) -> dict[str, Any]:
    from airflow_ops.backup.retention import RetentionPolicy
    from airflow_ops.backup.retention import apply_retention as apply

    policy = RetentionPolicy(cfg.retention.daily, cfg.retention.weekly, cfg.retention.monthly)
    result = apply(s3_client(cfg.aws_conn_id), cfg.bucket, cfg.prefix, policy, dry_run=dry_run)
    return dataclasses.asdict(result)


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def report(
    cfg: MetadataBackupConfig,
    backed_up: dict[str, Any],
    verified: dict[str, Any],
    retention: dict[str, Any],
    dag_id: str,
    run_id: str,
) -> dict[str, Any]:
    from airflow_ops.backup.manifest import BackupManifest

    manifest = BackupManifest(**backed_up["manifest"])
    fernet = backed_up["fernet"]
    warnings: list[str] = []
    if not fernet["stored"]:
        warnings.append(f"fernet key {fernet['warning']}")
    removed = retention["expired"]
    verb = "would remove" if retention["dry_run"] else "removed"
    rep = RunReport(
        dag_id=dag_id,
        run_id=run_id,
        title="Metadata DB backup",
        ok=True,
        summary={
            "object": f"s3://{manifest.bucket}/{manifest.key}",
            "size": _mb(manifest.size_bytes),
            "db size": _mb(manifest.db_size_bytes),
            "compression ratio": manifest.compression_ratio,
            "duration s": manifest.duration_seconds,
            "throughput MB/s": manifest.mb_per_s,
            "sha256": manifest.sha256,
            "tables / rows": f"{len(manifest.table_row_counts)} / {sum(manifest.table_row_counts.values())}",
            "verification": f"sha256 ok, pg_restore --list ok ({verified['toc_entries']} entries)",
            "full restore": verified["full_restore"],
            "retention": f"{verb} {len(removed)} backup(s) ({_mb(retention['bytes_freed'])}), "
            f"kept {len(retention['kept'])}",
            "fernet key": fernet["location"] + f" ({fernet['fingerprint']})"
            if fernet["stored"]
            else "NOT backed up",
        },
        rows=[{"retention": verb, "backup": folder} for folder in removed[:20]],
        warnings=warnings,
    )
    return publish(rep, cfg.note_conn_id)


# -- step entry points (MaintenanceStep calls these with the config and the task context) ------------
def backup_step(cfg: MetadataBackupConfig, context: Any) -> dict[str, Any]:
    return take_backup(cfg, context["dag_run"])


def verify_step(cfg: MetadataBackupConfig, context: Any) -> dict[str, Any]:
    from airflow_ops.steps import param, upstream

    return verify_backup(cfg, upstream(context, "backup"), bool(param(context, "force_full_restore", False)))


def retention_step(cfg: MetadataBackupConfig, context: Any) -> dict[str, Any]:
    from airflow_ops.steps import param

    return apply_retention(cfg, bool(param(context, "retention_dry_run", cfg.retention.dry_run)))


def report_step(cfg: MetadataBackupConfig, context: Any) -> dict[str, Any]:
    from airflow_ops.steps import upstream

    dag_run = context["dag_run"]
    return report(
        cfg,
        upstream(context, "backup"),
        upstream(context, "verify"),
        upstream(context, "retention"),
        dag_run.dag_id,
        dag_run.run_id,
    )
