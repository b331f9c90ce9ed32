"""Task bodies of the health probe DAG (imported inside tasks, so parsing stays cheap)."""

from __future__ import annotations

import logging
from typing import Any

from airflow_ops.config.health_probe import HealthProbeConfig, HealthThresholds
from airflow_ops.exceptions import HealthCheckFailed
from airflow_ops.health import CheckResult, Verdict, check_db_size, check_disk, guarded, metadata_db_size
from airflow_ops.report import RunReport, publish

log = logging.getLogger(__name__)


def _log_folder() -> str:
    from airflow.sdk.configuration import conf

    return str(conf.get("logging", "base_log_folder"))


def run_checks(cfg: HealthProbeConfig, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    from airflow_ops.api_client import AirflowApi
    from airflow_ops.connections import get_connection, postgres_target
    from airflow_ops.health import run_api_checks

    thresholds = HealthThresholds(**{**cfg.thresholds.model_dump(), **overrides})
    api = AirflowApi.from_connection(get_connection(cfg.api_conn_id, "Airflow REST API for the health probe"))
    results: list[CheckResult] = run_api_checks(api, cfg.components, thresholds)
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
    return [r.to_dict() for r in results]


def probe(cfg: HealthProbeConfig, context: Any) -> dict[str, Any]:
    """The task: run every check, publish the report, then fail naming what is unhealthy."""
    params = context.get("params") or {}
    results = run_checks(cfg, params.get("thresholds") or {})
    dag_run = context["dag_run"]
    return report(cfg, results, dag_run.dag_id, dag_run.run_id, context["ti"])


def report(
    cfg: HealthProbeConfig, results: list[dict[str, Any]], dag_id: str, run_id: str, ti: Any = None
) -> dict[str, Any]:
    fail_level = Verdict.WARNING if cfg.fail_on == "warning" else Verdict.CRITICAL
    unhealthy = [r for r in results if Verdict[r["verdict"].upper()] >= fail_level]
    warnings = [r for r in results if r["verdict"] != "ok" and r not in unhealthy]
    rep = RunReport(
        dag_id=dag_id,
        run_id=run_id,
        title="Health probe",
        ok=not unhealthy,
        summary={
            "checks": len(results),
            "unhealthy": ", ".join(r["name"] for r in unhealthy) or "none",
            "warnings": ", ".join(r["name"] for r in warnings) or "none",
        },
        rows=[{k: r[k] for k in ("name", "value", "threshold", "verdict")} for r in results],
        warnings=[f"{r['name']}: {r['detail']}" for r in warnings if r["detail"]],
    )
    payload = publish(rep, cfg.note_conn_id)
    if ti is not None:
        ti.xcom_push(key="report", value=payload)  # kept even when the verdict fails the task
    if unhealthy:
        raise HealthCheckFailed(
            "unhealthy: " + "; ".join(f"{r['name']} ({r['detail'] or r['value']})" for r in unhealthy)
        )
    if cfg.dead_mans_switch_conn_id:
        _ping(cfg.dead_mans_switch_conn_id)
    return payload


def _ping(conn_id: str) -> None:
    import requests

    from airflow_ops.connections import get_connection, http_url

    url = http_url(get_connection(conn_id, "dead man's switch URL"))
    requests.get(url, timeout=10).raise_for_status()
    log.info("Dead man's switch pinged (connection %s)", conn_id)
