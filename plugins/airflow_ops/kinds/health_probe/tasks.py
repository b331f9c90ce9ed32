"""Task glue of the health probe DAG: gather Airflow inputs, run the checks, return the report.

Imported at parse time for the step reference, so everything heavy is imported inside the step.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_ops.health import CheckResult
    from airflow_ops.kinds.health_probe.schema import BackupPointer, HealthProbeConfig, HealthThresholds
    from airflow_ops.report import RunReport
    from airflow_ops.steps import Run

log = logging.getLogger(__name__)


def _log_folder() -> str:
    from airflow_ops import compat

    return str(compat.conf().get("logging", "base_log_folder"))


def run_checks(cfg: HealthProbeConfig, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    from airflow_ops.api_client import AirflowApi
    from airflow_ops.connections import get_connection, postgres_target
    from airflow_ops.health import (
        check_db_size,
        check_disk,
        guarded,
        metadata_db_size,
        run_api_checks,
        run_freshness_checks,
    )
    from airflow_ops.kinds.health_probe.schema import HealthThresholds

    thresholds = HealthThresholds(**{**cfg.thresholds.model_dump(), **overrides})
    api = AirflowApi.from_connection(
        get_connection(cfg.api_conn_id, "Airflow REST API for the health probe", kind="api")
    )
    results: list[CheckResult] = run_api_checks(
        api, cfg.components, thresholds, maintenance_patterns=cfg.maintenance_dag_files
    )
    results += check_alert_channels(cfg)
    path = cfg.log_volume_path or _log_folder()
    results.append(guarded("log_volume_free_pct", lambda: check_disk(path, thresholds)))
    if cfg.metadata_db_conn_id:
        conn_id = cfg.metadata_db_conn_id
        results.append(
            guarded(
                "metadata_db_size_gb",
                lambda: check_db_size(metadata_db_size(postgres_target(conn_id)), thresholds),
            )
        )
    results += run_freshness_checks(
        api,
        cfg.freshness_tag,
        thresholds,
        exclude=[cfg.dag_id],  # a DAG cannot report its own death: the external probe does
        intervals=cfg.expected_interval_hours,
        stuck_in_queued=cfg.stuck_in_queued,
    )
    if cfg.backup is not None:
        pointer = cfg.backup
        results.append(guarded("backup_age_hours", lambda: _backup_age(pointer, thresholds)))
    return [r.to_dict() for r in results]


def _backup_age(pointer: BackupPointer, thresholds: HealthThresholds) -> CheckResult:
    """Age of the latest verified backup from its pointer in S3 (one small GET)."""
    from airflow_ops.connections import s3_client
    from airflow_ops.dbclean.backup_gate import check_latest_backup
    from airflow_ops.health import check_backup_age
    from airflow_ops.report import utc_now

    status = check_latest_backup(
        s3_client(pointer.aws_conn_id), pointer.bucket, pointer.prefix, thresholds.backup_age_warning_hours
    )
    readable = status.age_hours is not None or status.reason.startswith("no verified backup pointer")
    age = status.age_hours
    if status.verified_at:  # unrounded, so that a threshold below 0.01 h still grades
        age = (utc_now() - dt.datetime.fromisoformat(status.verified_at)).total_seconds() / 3600
    return check_backup_age(age, status.reason, readable, thresholds)


def check_alert_channels(cfg: HealthProbeConfig, get: Any = None) -> list[Any]:
    """One critical-or-ok result per configured alert channel: it must resolve (nothing is sent)."""
    from airflow_ops.health import CheckResult, Verdict
    from airflow_ops.notifiers import AlertChannel, alert_channel_results_name, channel_problem

    if cfg.alert_channels is not None:
        channels = [AlertChannel(c.kind, c.conn_id, tuple(c.used_by)) for c in cfg.alert_channels]
    else:  # a hand-written DAG file: at least this DAG's own channels
        from airflow_ops.notifiers import alert_channels

        channels = alert_channels(cfg.alerts.model_dump(), cfg.dag_id)
    results = []
    for ch in channels:
        problem = channel_problem(ch, get)
        users = f" (alerts of {', '.join(ch.used_by)})" if ch.used_by else ""
        results.append(
            CheckResult(
                alert_channel_results_name(ch),
                "resolves" if problem is None else "broken",
                "connection defined and usable",
                Verdict.OK if problem is None else Verdict.CRITICAL,
                "" if problem is None else f"{problem}: failures of these DAGs alert nobody{users}",
            )
        )
    return results


def probe(cfg: HealthProbeConfig, run: Run) -> RunReport:
    """The step: run every check and grade them; the report fails the task when something is unhealthy."""
    results = run_checks(cfg, run.param("thresholds", {}) or {})
    rep = report(cfg, run, results)
    if rep.ok and cfg.dead_mans_switch_conn_id:
        _ping(cfg.dead_mans_switch_conn_id)
    return rep


def report(cfg: HealthProbeConfig, run: Run, results: list[dict[str, Any]]) -> RunReport:
    from airflow_ops.health import Verdict

    fail_level = Verdict.WARNING if cfg.fail_on == "warning" else Verdict.CRITICAL
    unhealthy = [r for r in results if Verdict[r["verdict"].upper()] >= fail_level]
    warned = [r for r in results if r["verdict"] != "ok" and r not in unhealthy]
    by_name = {r["name"]: r for r in results}

    def value(name: str, scale: float = 1.0) -> float | None:
        v = by_name.get(name, {}).get("value")
        return float(v) * scale if isinstance(v, int | float) and not isinstance(v, bool) else None

    size_gb = value("metadata_db_size_gb")
    errors = value("import_errors")
    critical = sum(r["verdict"] == "critical" for r in results)
    warning = sum(r["verdict"] == "warning" for r in results)
    problems = [f"unhealthy: {r['name']} ({r['detail'] or r['value']})" for r in unhealthy]
    return run.report(
        title="Health probe",
        mode="apply",
        ok=not unhealthy,
        headline=f"{len(results)} checks: {critical} critical, {warning} warning",
        metrics={
            "verdict": 2 if critical else (1 if warning else 0),
            "checks": len(results),
            "critical": critical,
            "warning": warning,
            "log_volume_free_pct": value("log_volume_free_pct"),
            "metadata_db_size_bytes": int(size_gb * 1e9) if size_gb is not None else None,
            "import_errors": int(errors) if errors is not None else None,
            "backup_age_hours": value("backup_age_hours"),
            "stale_dags": sum(
                r["name"].startswith("dag_freshness") and r["verdict"] != "ok" for r in results
            ),
            "stuck_in_queued_events": int(v) if (v := value("stuck_in_queued_events")) is not None else None,
        },
        details={
            "checks": len(results),
            "unhealthy": ", ".join(r["name"] for r in unhealthy) or "none",
            "warnings": ", ".join(r["name"] for r in warned) or "none",
        },
        rows=[{k: r[k] for k in ("name", "value", "threshold", "verdict")} for r in results],
        warnings=problems + [f"{r['name']}: {r['detail']}" for r in warned if r["detail"]],
    )


def _ping(conn_id: str) -> None:
    import requests

    from airflow_ops.connections import get_connection, http_url

    url = http_url(get_connection(conn_id, "dead man's switch URL"))
    requests.get(url, timeout=10).raise_for_status()
    log.info("Dead man's switch pinged (connection %s)", conn_id)
