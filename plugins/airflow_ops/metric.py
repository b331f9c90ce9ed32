"""``Metric``: the declaration of one headline figure of a kind's report.

Its own small module, apart from the report schema (:mod:`airflow_ops.report`): every kind's row
declares its metrics when a DAG file is parsed, and the report is needed only when a step runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricType = Literal["gauge", "counter", "timing"]


@dataclass(frozen=True)
class Metric:
    """One headline figure of a kind: its report key, metric type, unit and meaning."""

    name: str
    type: MetricType
    unit: str
    help: str
    value_type: Literal["int", "float", "bool"] = "float"
