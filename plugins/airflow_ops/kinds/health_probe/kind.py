"""The row of ``kind: health_probe`` (:class:`airflow_ops.kind.Kind`): what its DAG file imports."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_ops.kind import Kind
from airflow_ops.kinds.health_probe import METRICS

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from airflow_ops.kinds.health_probe.schema import HealthProbeConfig


def _schema() -> type[HealthProbeConfig]:
    from airflow_ops.kinds.health_probe.schema import HealthProbeConfig

    return HealthProbeConfig


def _build(spec: Mapping[str, Any], dag_kwargs: dict[str, Any], kind: Kind) -> DAG:
    from airflow_ops.kinds.health_probe.dag import build

    return build(spec, dag_kwargs, kind)


KIND = Kind("health_probe", "Health probe", METRICS, _schema, _build, Path(__file__).parent)
