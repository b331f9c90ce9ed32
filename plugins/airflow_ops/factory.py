"""Build a DAG from a DAG file's literal: the only thing a file in ``dags/`` calls.

A DAG file imports the factory and its own kind's row (``kinds/<kind>/kind.py``), nothing else of
the bundle, so parsing it loads that kind and the shared base only. The literal is the full config
that ``airflow-ops generate`` validated and wrote (every default filled in), so parsing reads it as
plain data: no pydantic model, Jinja environment, file, database or network access happens here.
Each task validates the same literal into its kind's typed model when it runs (``airflow_ops.steps``),
so a hand-edited DAG file still fails loudly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_ops.compat import require_supported_airflow

require_supported_airflow()  # one line on Airflow 3.0 instead of a DAG-argument error

from airflow.sdk import DAG  # noqa: E402

from airflow_ops.notifiers import deadline_alert, failure_notifiers  # noqa: E402

if TYPE_CHECKING:
    from airflow_ops.kind import Kind


def dag_kwargs(spec: Mapping[str, Any], doc_md: str) -> dict[str, Any]:
    """The DAG arguments every maintenance DAG shares (policy enforced by tests/dags)."""
    start = dt.date.fromisoformat(str(spec["start_date"]))
    return {
        "dag_id": spec["dag_id"],
        "description": spec.get("description") or None,
        "schedule": spec["schedule"],
        "start_date": dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC),
        "catchup": False,
        "max_active_runs": 1,
        "dagrun_timeout": dt.timedelta(minutes=spec["dagrun_timeout_minutes"]),
        "tags": list(spec["tags"]),
        "doc_md": doc_md,
        "deadline": deadline_alert(spec),
        "default_args": {
            "owner": spec["owner"],
            "retries": spec["retries"],
            "retry_delay": dt.timedelta(minutes=spec["retry_delay_minutes"]),
            "on_failure_callback": failure_notifiers(spec.get("alerts") or {}),
        },
    }


def build_dag(
    doc_md: str | None, spec: dict[str, Any], source: str = "<dag file>", *, kind: Kind | None = None
) -> DAG:
    """Build the DAG of ``spec`` with its kind's row (``kinds/<kind>/kind.py``, imported by the DAG file)."""
    if kind is None or spec.get("kind") != kind.name:
        raise ValueError(
            f"{source}: kind {spec.get('kind')!r} does not match the row it was given "
            f"({kind.name if kind else 'none: a DAG file of an older release'}); run `make generate`"
        )
    return kind.build(spec, dag_kwargs(spec, doc_md or spec.get("description") or spec["dag_id"]), kind)
