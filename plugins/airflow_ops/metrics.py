"""Every run report's headline numbers, sent through Airflow's own metrics facade.

The task process's facade is Airflow's own (``airflow_ops.compat.stats`` finds it on each release):
the task runner initialises it from ``[metrics]`` (``statsd_on``, ``statsd_datadog_enabled`` or
``otel_on``) before the task runs,
so the numbers go wherever Airflow's own metrics go, with its prefix (``[metrics] statsd_prefix`` /
``otel_prefix``, default ``airflow``), allow and block lists.

Names (stable; the table in README 'Metrics' is generated from :func:`metric_rows`):

* backends that keep tags (OpenTelemetry, Datadog, StatsD with ``statsd_influxdb_enabled``):
  ``airflow_ops.<kind>.<metric>`` with the tags ``dag_id`` and ``mode``;
* plain StatsD drops tags, so the DAG id goes into the name: ``airflow_ops.<kind>.<dag_id>.<metric>``
  (a ``.`` in a DAG id becomes ``__``, as Airflow does for its own legacy names).

Types: a ``gauge`` metric is a gauge, a ``timing`` one a timer (milliseconds on the wire, seconds in
the report), a ``counter`` one an increment by its value; a bool is 0/1; ``None`` (not measured) is
not emitted. A dry run deletes nothing, so a kind's counters (rows purged, bytes freed, ...) are not
emitted for it; its gauges and timings and the run metrics are. Every report also emits
:data:`RUN_METRICS`: its duration and outcome.

Emitting never fails a run: any error is logged at WARNING and the report goes on.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_ops.metric import Metric, MetricType

if TYPE_CHECKING:
    from airflow_ops.report import RunReport

log = logging.getLogger(__name__)

NAMESPACE = "airflow_ops"
#: Emitted for every report, whatever the kind (names ``airflow_ops.<kind>.run_seconds`` etc.).
RUN_METRICS = (
    Metric("run_seconds", "timing", "seconds", "Run duration: DAG run start to its report.", "float"),
    Metric("run_ok", "gauge", "bool", "Outcome of the latest run: 1 succeeded, 0 failed.", "bool"),
    Metric("runs_failed", "counter", "runs", "Failed runs: +1 per failed run, +0 per successful one.", "int"),
)


@dataclass(frozen=True)
class Sample:
    """One value to send: the facade call (``gauge``/``timing``/``incr``), name, value and tags."""

    call: str
    name: str
    value: float
    tags: dict[str, str]


_CALL: dict[MetricType, str] = {"gauge": "gauge", "timing": "timing", "counter": "incr"}


def stat_name(kind: str, metric: str, dag_id: str, *, tagged: bool) -> str:
    """The metric's name (without Airflow's prefix) for a tag-keeping backend or plain StatsD."""
    if tagged:
        return f"{NAMESPACE}.{kind}.{metric}"
    return f"{NAMESPACE}.{kind}.{dag_id.replace('.', '__')}.{metric}"


def samples(report: RunReport, declared: Sequence[Metric], *, tagged: bool) -> list[Sample]:
    """What :func:`emit` sends for ``report``: pure, so unit tests read it directly."""
    tags = {"dag_id": report.dag_id, "mode": report.mode}
    values: Mapping[str, Any] = report.metrics
    run_values = {"run_seconds": report.duration_s, "run_ok": report.ok, "runs_failed": int(not report.ok)}
    out: list[Sample] = []
    for metric, value, is_run in [(m, values.get(m.name), False) for m in declared] + [
        (m, run_values[m.name], True) for m in RUN_METRICS
    ]:
        if value is None:
            continue
        if metric.type == "counter" and report.mode == "dry_run" and not is_run:
            continue  # a dry run freed, purged and expired nothing
        number = float(value) if not isinstance(value, bool) else float(int(value))
        if metric.type == "counter":
            number = int(number)
        out.append(
            Sample(
                _CALL[metric.type],
                stat_name(report.kind, metric.name, report.dag_id, tagged=tagged),
                number,
                tags,
            )
        )
    return out


def backend_keeps_tags() -> bool:
    """False for plain StatsD (tags dropped on the wire); True for OTel, Datadog, InfluxDB-style StatsD."""
    from airflow_ops import compat

    conf = compat.conf()
    if conf.getboolean("metrics", "statsd_datadog_enabled", fallback=False):
        return True
    if conf.getboolean("metrics", "statsd_on", fallback=False):
        return bool(conf.getboolean("metrics", "statsd_influxdb_enabled", fallback=False))
    return True


def emit(report: RunReport, declared: Sequence[Metric]) -> int:
    """Send ``report``'s metrics (``declared``: its kind's) through Airflow's facade; the number sent.
    Never raises."""
    try:
        from airflow_ops import compat

        stats = compat.stats()

        sent = 0
        for sample in samples(report, declared, tagged=backend_keeps_tags()):
            if sample.call == "timing":
                stats.timing(sample.name, dt.timedelta(seconds=sample.value), tags=sample.tags)
            elif sample.call == "incr":
                stats.incr(sample.name, int(sample.value), tags=sample.tags)
            else:
                stats.gauge(sample.name, sample.value, tags=sample.tags)
            sent += 1
        return sent
    except Exception as exc:
        log.warning(
            "Metrics of %s / %s not emitted (the report is unaffected): %s: %s",
            report.dag_id,
            report.run_id,
            type(exc).__name__,
            exc,
        )
        return 0


def metric_rows(kinds: Mapping[str, Sequence[Metric]]) -> list[dict[str, str]]:
    """Every kind's metrics, then the run metrics: names, type, unit, meaning (README 'Metrics')."""
    pairs = [(kind, m) for kind, declared in kinds.items() for m in declared]
    pairs += [("<kind>", m) for m in RUN_METRICS]
    return [
        {
            "name": stat_name(kind, m.name, "<dag_id>", tagged=True),
            "statsd": stat_name(kind, m.name, "<dag_id>", tagged=False),
            "type": "timer" if m.type == "timing" else m.type,
            "unit": "ms" if m.type == "timing" else ("0/1" if m.unit == "bool" else m.unit),
            "help": m.help,
        }
        for kind, m in pairs
    ]
