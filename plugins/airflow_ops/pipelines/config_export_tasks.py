"""Task bodies of the config export DAG (imported inside tasks, so parsing stays cheap)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow_ops.config.config_export import ConfigExportConfig
from airflow_ops.connections import s3_client
from airflow_ops.exceptions import AirflowOpsError, MissingConnectionError
from airflow_ops.report import RunReport, publish

log = logging.getLogger(__name__)


class ExportKeyMissing(AirflowOpsError):
    pass


def run_moment(dag_run: Any) -> dt.datetime:
    """The logical date (or run_after for runs without one): one export key per value."""
    when = getattr(dag_run, "logical_date", None) or dag_run.run_after
    if isinstance(when, str):
        when = dt.datetime.fromisoformat(when)
    return when.astimezone(dt.UTC).replace(microsecond=0)  # type: ignore[no-any-return]


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
    from airflow.sdk.configuration import conf

    return str(conf.get("core", "fernet_key", fallback="")) or None


def export(cfg: ConfigExportConfig, dag_run: Any, dry_run: bool) -> dict[str, Any]:
    from airflow_ops.connections import postgres_target
    from airflow_ops.export.crypto import ExportKey
    from airflow_ops.export.reader import read_snapshot
    from airflow_ops.export.service import export_snapshot

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
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        when=run_moment(dag_run),
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


def apply_retention(cfg: ConfigExportConfig, summary: dict[str, Any], dry_run: bool) -> dict[str, Any]:
    from airflow_ops.export.store import base_prefix, delete_exports, list_exports
    from airflow_ops.retention import GfsPolicy

    result: dict[str, Any] = {"exports": 0, "expired": [], "deleted": 0, "dry_run": dry_run}
    client = s3_client(cfg.aws_conn_id)
    refs = list_exports(client, cfg.bucket, base_prefix(cfg.prefix, cfg.dag_id))
    result["exports"] = len(refs)
    if not summary.get("uploaded") and not dry_run:
        result["skipped"] = "this run uploaded nothing, so nothing is deleted"
        return result
    policy = GfsPolicy(**cfg.retention.model_dump())
    # Never expire the export this run just verified, whatever its date.
    expired = [
        r for r in policy.select_expired(refs, lambda r: r.when) if r.object_key != summary["object_key"]
    ]
    result["expired"] = [r.object_key for r in expired]
    log.info("Retention: %d exports, %d expired%s", len(refs), len(expired), " (dry run)" if dry_run else "")
    if not dry_run and expired:
        result["deleted"] = delete_exports(client, cfg.bucket, expired)
    return result


def report(
    cfg: ConfigExportConfig, summary: dict[str, Any], retention: dict[str, Any], dag_id: str, run_id: str
) -> dict[str, Any]:
    diff = summary["diff"]
    rows = []
    from airflow_ops.export.diff import ExportDiff

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
    rep = RunReport(
        dag_id=dag_id,
        run_id=run_id,
        title="Config export" + (" (dry run)" if summary["dry_run"] else ""),
        ok=True,
        summary={
            "variables": summary["variables"],
            "connections": summary["connections"],
            "object": f"s3://{summary['bucket']}/{summary['object_key']}",
            "bytes": summary["object_bytes"] or 0,
            "encrypted": f"yes (key id {summary['key_id']})" if summary["encrypted"] else "NO",
            "changes since previous": summary["diff_total"] if diff["previous"] else "first export",
            "exports kept": retention["exports"] - retention.get("deleted", 0),
            "expired": len(retention["expired"]),
        },
        rows=rows,
        warnings=list(summary["warnings"]),
    )
    payload = publish(rep, cfg.note_conn_id)
    payload["diff"] = diff
    payload["retention"] = retention
    return payload


# -- step entry points (MaintenanceStep calls these with the config and the task context) ------------
def export_step(cfg: ConfigExportConfig, context: Any) -> dict[str, Any]:
    from airflow_ops.steps import param

    return export(cfg, context["dag_run"], bool(param(context, "dry_run", False)))


def retention_step(cfg: ConfigExportConfig, context: Any) -> dict[str, Any]:
    from airflow_ops.steps import param, upstream

    return apply_retention(cfg, upstream(context, "export"), bool(param(context, "dry_run", False)))


def report_step(cfg: ConfigExportConfig, context: Any) -> dict[str, Any]:
    from airflow_ops.steps import upstream

    dag_run = context["dag_run"]
    return report(
        cfg, upstream(context, "export"), upstream(context, "apply_retention"), dag_run.dag_id, dag_run.run_id
    )
