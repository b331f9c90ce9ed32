"""Build a DAG from a validated config: the only thing a file in ``dags/`` calls.

Parse-time work is limited to validating an in-memory mapping and declaring tasks: no file,
database or network I/O happens here.
"""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

from airflow.sdk import DAG

from airflow_ops.config import CommonConfig, parse_config
from airflow_ops.notifiers import failure_notifiers


def dag_kwargs(cfg: CommonConfig, doc_md: str) -> dict[str, Any]:
    """The DAG arguments every maintenance DAG shares (policy enforced by tests/dags)."""
    notifiers = failure_notifiers(cfg.alerts)
    return {
        "dag_id": cfg.dag_id,
        "description": cfg.description or None,
        "schedule": cfg.schedule,
        "start_date": dt.datetime.combine(cfg.start_date, dt.time(), tzinfo=dt.UTC),
        "catchup": False,
        "max_active_runs": 1,
        "dagrun_timeout": dt.timedelta(minutes=cfg.dagrun_timeout_minutes),
        "tags": cfg.tags,
        "doc_md": doc_md,
        "default_args": {
            "owner": cfg.owner,
            "retries": cfg.retries,
            "retry_delay": dt.timedelta(minutes=cfg.retry_delay_minutes),
            "on_failure_callback": notifiers,
        },
    }


def build_dag(doc_md: str | None, raw: dict[str, Any], source: str = "<dag file>") -> DAG:
    """Validate ``raw`` and build the DAG of its kind (``airflow_ops.pipelines.<kind>.build``)."""
    cfg = parse_config(raw, source)
    kind = raw["kind"]
    pipeline = importlib.import_module(f"airflow_ops.pipelines.{kind}")
    dag: DAG = pipeline.build(cfg, dag_kwargs(cfg, doc_md or cfg.description or cfg.dag_id))
    return dag
