"""A :class:`~airflow_ops.steps.Run` for unit tests of step functions (no Airflow context needed)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow_ops.steps import Run

T0 = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


def make_run(kind: str = "metadata_backup", **kw: Any) -> Run:
    values: dict[str, Any] = {
        "kind": kind,
        "dag_id": f"ops_{kind}",
        "run_id": "manual__test",
        "logical_date": T0,
        "run_after": T0,
        "started_at": T0,
        "params": {},
        "queue": "default",
    }
    values.update(kw)
    return Run(**values)
