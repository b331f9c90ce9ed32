"""Task glue of the config export DAG: gather Airflow inputs, call the domain, return results.

Imported at parse time for the step references, so everything heavy is imported inside a step.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_ops.exceptions import AirflowOpsError, MissingConnectionError

if TYPE_CHECKING:
    from airflow_ops.kinds.config_export.schema import ConfigExportConfig
    from airflow_ops.report import RunReport
    from airflow_ops.steps import Run

log = logging.getLogger(__name__)


class ExportKeyMissing(AirflowOpsError):
    pass


def export_secret(cfg: ConfigExportConfig) -> str | None:
    """The export key from its connection's password; ``None`` only when plaintext is allowed."""
    from airflow_ops.connections import get_connection

    enc = cfg.encryption
    if not enc.key_conn_id:
        return None
    try:
        conn = get_connection(enc.key_conn_id, "export encryption key (its password)", kind="generic")
    except MissingConnectionError as exc:
        if enc.allow_plaintext:
            return None
        raise ExportKeyMissing(
            f"refusing to upload an unencrypted export: {exc} Its password must be a random key of "
            "at least 32 characters. (allow_plaintext: true is meant for the local profile only.)"
        ) from None
    if not conn.password and not enc.allow_plaintext:
        raise ExportKeyMissing(
            f"refusing to upload an unencrypted export: connection {enc.key_conn_id!r} has no password; "
            "store the export key (>= 32 characters) as its password"
        )
    return str(conn.password) if conn.password else None


def airflow_fernet_key(cfg: ConfigExportConfig) -> str | None:
    if cfg.fernet_key_conn_id:
        from airflow_ops.connections import get_connection

        value = get_connection(
            cfg.fernet_key_conn_id, "Airflow fernet key (its password)", kind="generic"
        ).password
        return str(value) if value else None
    from airflow_ops import compat

    conf = compat.conf()

    return str(conf.get("core", "fernet_key", fallback="")) or None


def export(cfg: ConfigExportConfig, run: Run) -> dict[str, Any]:
    from airflow_ops.connections import postgres_target, s3_client
    from airflow_ops.export.crypto import ExportKey
    from airflow_ops.export.reader import read_snapshot
    from airflow_ops.export.service import export_snapshot

    dry_run = bool(run.param("dry_run", False))
    secret = export_secret(cfg)
    key = ExportKey(secret, f"password of connection {cfg.encryption.key_conn_id!r}")
    fernet = airflow_fernet_key(cfg)
    if secret and fernet and set(secret.split(",")) & set(fernet.split(",")):
        log.warning(
            "The export key equals the Airflow fernet key: use a separate key so one leak is not both"
        )
    target = postgres_target(cfg.metadata_db_conn_id, "metadata DB to read variables and connections")
    snapshot = read_snapshot(target, fernet, cfg.metadata_db_conn_id)
    log.info(
        "Read %d variables and %d connections from %r",
        len(snapshot.variables),
        len(snapshot.connections),
        target,
    )
    summary = export_snapshot(
        snapshot,
        key,
        s3_client(cfg.aws_conn_id),
        bucket=cfg.bucket,
        prefix=cfg.prefix,
        dag_id=run.dag_id,
        run_id=run.run_id,
        when=run.when.replace(microsecond=0),
        sse_kms_key_id=cfg.encryption.sse_kms_key_id,
        dry_run=dry_run,
    )
    if summary["uploaded"]:
        log.info(
            "Uploaded s3://%s/%s (%d bytes, sha256 %s, key id %s)",
            cfg.bucket,
            summary["object_key"],
            summary["object_bytes"],
            summary["object_sha256"],
            summary["key_id"],
        )
    else:
        log.info("Dry run: would upload s3://%s/%s", cfg.bucket, summary["object_key"])
    return summary


def retention(cfg: ConfigExportConfig, run: Run, exported: dict[str, Any]) -> dict[str, Any]:
    from airflow_ops.connections import s3_client
    from airflow_ops.export.retention import expired_exports
    from airflow_ops.export.store import base_prefix, delete_exports, list_exports
    from airflow_ops.retention import GfsPolicy

    summary = exported
    dry_run = bool(run.param("dry_run", False))
    result: dict[str, Any] = {"exports": 0, "expired": [], "deleted": 0, "dry_run": dry_run}
    client = s3_client(cfg.aws_conn_id)
    refs = list_exports(client, cfg.bucket, base_prefix(cfg.prefix, cfg.dag_id))
    result["exports"] = len(refs)
    expired, skipped = expired_exports(
        refs,
        GfsPolicy(**cfg.retention.model_dump()),
        this_key=str(summary["object_key"]),
        uploaded=bool(summary.get("uploaded")),
        dry_run=dry_run,
    )
    if skipped:
        result["skipped"] = skipped
        return result
    result["expired"] = [r.object_key for r in expired]
    log.info("Retention: %d exports, %d expired%s", len(refs), len(expired), " (dry run)" if dry_run else "")
    if not dry_run and expired:
        result["deleted"] = delete_exports(client, cfg.bucket, expired)
    return result


def report(
    cfg: ConfigExportConfig, run: Run, exported: dict[str, Any], retention: dict[str, Any]
) -> RunReport:
    from airflow_ops.export.diff import ExportDiff

    summary = exported
    diff = summary["diff"]
    rows = []
    for field in ExportDiff.change_fields():
        names = diff[field]
        more = diff.get(field + "_more", 0)
        rows.append(
            {
                "change": field.replace("_", " "),
                "count": len(names) + more,
                "names": ", ".join(names[:20]) + (" …" if len(names) > 20 or more else ""),
            }
        )
    kept = retention["exports"] - retention.get("deleted", 0)
    changes = int(summary["diff_total"]) if diff["previous"] else None
    what = f"{changes} change(s)" if changes is not None else "first export"
    return run.report(
        title="Config export",
        mode="dry_run" if summary["dry_run"] else "apply",
        ok=True,
        headline=(
            f"{summary['variables']} variables, {summary['connections']} connections, {what}, "
            + ("encrypted" if summary["encrypted"] else "NOT encrypted")
        ),
        metrics={
            "variables": int(summary["variables"]),
            "connections": int(summary["connections"]),
            "changes": changes,
            "export_bytes": int(summary["object_bytes"] or 0),
            "encrypted": bool(summary["encrypted"]),
            "exports_kept": int(kept),
            "exports_expired": len(retention["expired"]),
        },
        details={
            "object": f"s3://{summary['bucket']}/{summary['object_key']}",
            "bytes": summary["object_bytes"] or 0,
            "encrypted": f"yes (key id {summary['key_id']})" if summary["encrypted"] else "NO",
            "changes since previous": summary["diff_total"] if diff["previous"] else "first export",
            "exports kept": kept,
            "expired": len(retention["expired"]),
        },
        rows=rows,
        warnings=list(summary["warnings"]),
    )
