"""Report metrics through Airflow's metrics facade: names, types, dry runs, failures, the docs table."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_ops import compat
from airflow_ops.metrics import RUN_METRICS, emit, metric_rows, samples, stat_name
from airflow_ops.registry import KINDS
from airflow_ops.report import RunReport

REPO = Path(__file__).parents[2]
LOG_CLEANUP = KINDS["log_cleanup"].metrics


def _report(mode: str = "apply", ok: bool = True, **metrics: object) -> RunReport:
    values = dict.fromkeys((m.name for m in LOG_CLEANUP), None) | metrics
    return RunReport(
        kind="log_cleanup",
        dag_id="ops_log_cleanup",
        run_id="manual__1",
        title="Log cleanup",
        mode=mode,  # type: ignore[arg-type]
        ok=ok,
        started_at="2026-12-01T00:00:00+00:00",
        ended_at="2026-12-01T00:00:02.5+00:00",
        duration_s=2.5,
        metrics=values,  # type: ignore[arg-type]
    )


def test_types_follow_the_declaration_and_none_is_not_sent() -> None:
    got = {
        s.name: (s.call, s.value)
        for s in samples(_report(bytes_freed=2048, files_kept=7), LOG_CLEANUP, tagged=True)
    }
    assert got == {
        "airflow_ops.log_cleanup.bytes_freed": ("incr", 2048),
        "airflow_ops.log_cleanup.files_kept": ("gauge", 7.0),
        "airflow_ops.log_cleanup.run_seconds": ("timing", 2.5),
        "airflow_ops.log_cleanup.run_ok": ("gauge", 1.0),
        "airflow_ops.log_cleanup.runs_failed": ("incr", 0),
    }


def test_tags_carry_dag_id_and_mode_and_plain_statsd_names_carry_the_dag_id() -> None:
    tagged = samples(_report(files_kept=1), LOG_CLEANUP, tagged=True)
    assert {s.name: s.tags for s in tagged}["airflow_ops.log_cleanup.files_kept"] == {
        "dag_id": "ops_log_cleanup",
        "mode": "apply",
    }
    plain = {s.name for s in samples(_report(files_kept=1), LOG_CLEANUP, tagged=False)}
    assert "airflow_ops.log_cleanup.ops_log_cleanup.files_kept" in plain
    assert stat_name("db_cleanup", "rows_purged", "team.ops", tagged=False) == (
        "airflow_ops.db_cleanup.team__ops.rows_purged"
    )


def test_a_dry_run_sends_no_kind_counters_but_its_gauges_and_outcome() -> None:
    names = {
        s.name for s in samples(_report("dry_run", bytes_freed=10, files_kept=3), LOG_CLEANUP, tagged=True)
    }
    assert "airflow_ops.log_cleanup.bytes_freed" not in names
    assert {"airflow_ops.log_cleanup.files_kept", "airflow_ops.log_cleanup.runs_failed"} <= names


def test_a_failed_run_counts_one_failure_and_bools_are_0_or_1() -> None:
    got = {s.name: s.value for s in samples(_report(ok=False), LOG_CLEANUP, tagged=True)}
    assert got["airflow_ops.log_cleanup.run_ok"] == 0.0
    assert got["airflow_ops.log_cleanup.runs_failed"] == 1
    backup = KINDS["metadata_backup"].metrics
    rep = _report(verified=True)
    rep.kind, rep.metrics = "metadata_backup", {"verified": True, "fernet_key_saved": False}
    values = {s.name: s.value for s in samples(rep, backup, tagged=True)}
    assert values["airflow_ops.metadata_backup.verified"] == 1.0
    assert values["airflow_ops.metadata_backup.fernet_key_saved"] == 0.0


#: These tests drive the task-side facade's own initialisation, whose internals are 3.3's
#: (``airflow.sdk._shared.observability``). On 3.1 and 3.2 the same emit path is proven on the wire,
#: through a real scheduler and a real StatsD listener, by tests/integration/test_metrics_statsd.py,
#: which ``make test-compat`` runs on those releases.
facade_internals_of_33 = pytest.mark.skipif(
    not compat.capabilities()["stats_functions"], reason="3.3 facade internals; see the comment"
)


@facade_internals_of_33
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_name_is_a_valid_statsd_and_otel_name(kind: str) -> None:
    from airflow.sdk._shared.observability.metrics.validators import stat_name_otel_handler

    for metric in (*KINDS[kind].metrics, *RUN_METRICS):
        name = stat_name(kind, metric.name, "ops_some_long_dag_id_of_an_instance", tagged=False)
        assert re.fullmatch(r"[a-zA-Z0-9_.-]+", name) and len(name) < 200
        stat_name_otel_handler("airflow", stat_name(kind, metric.name, "", tagged=True))


class _Listener:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(2)
        self.port = int(self.sock.getsockname()[1])

    def lines(self, n: int) -> list[str]:
        out: list[str] = []
        while len(out) < n:
            out += self.sock.recv(65535).decode().splitlines()
        return out


@pytest.fixture
def statsd_facade() -> Iterator[_Listener]:
    """Airflow's task-side facade initialised with its own StatsD logger, sending to a local socket."""
    from airflow.sdk._shared.observability.metrics import statsd_logger
    from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger
    from airflow.sdk.observability import stats
    from statsd import StatsClient

    listener = _Listener()
    stats.initialize(
        factory=lambda: statsd_logger.get_statsd_logger(
            stats_class=StatsClient, host="127.0.0.1", port=listener.port, prefix="airflow"
        ),
        export_legacy_names=False,
    )
    yield listener
    stats.initialize(factory=NoStatsLogger, export_legacy_names=False)
    listener.sock.close()


@facade_internals_of_33
def test_emit_goes_through_airflows_facade_onto_the_wire(statsd_facade: _Listener) -> None:
    # [metrics] statsd_on is unset here, so the names are the tagged ones; the wire format is StatsD's.
    sent = emit(_report(bytes_freed=4096, files_kept=2, free_bytes_min=None), LOG_CLEANUP)
    assert sent == 5
    lines = statsd_facade.lines(sent)
    assert "airflow.airflow_ops.log_cleanup.bytes_freed:4096|c" in lines
    assert "airflow.airflow_ops.log_cleanup.files_kept:2.0|g" in lines
    assert "airflow.airflow_ops.log_cleanup.run_seconds:2500.000000|ms" in lines
    assert not any("free_bytes_min" in line for line in lines)


@facade_internals_of_33
def test_opentelemetry_gets_tags_as_attributes() -> None:
    """Airflow's OTel logger behind the same facade: names without the DAG id, tags as attributes."""
    from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger
    from airflow.sdk._shared.observability.metrics.otel_logger import SafeOtelLogger
    from airflow.sdk.observability import stats
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    stats.initialize(factory=lambda: SafeOtelLogger(provider, prefix="airflow"), export_legacy_names=False)
    try:
        assert emit(_report(bytes_freed=10, files_kept=3), LOG_CLEANUP) == 5
        data = reader.get_metrics_data()
    finally:
        stats.initialize(factory=NoStatsLogger, export_legacy_names=False)
    points = {
        m.name: (type(m.data).__name__, dict(p.attributes or {}))
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for p in m.data.data_points
    }
    tags = {"dag_id": "ops_log_cleanup", "mode": "apply"}
    assert points["airflow.airflow_ops.log_cleanup.bytes_freed"] == ("Sum", tags)
    assert points["airflow.airflow_ops.log_cleanup.files_kept"] == ("Gauge", tags)
    assert points["airflow.airflow_ops.log_cleanup.run_seconds"] == ("Histogram", tags)


def test_a_failing_backend_never_fails_the_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("statsd host unreachable")

    # Whatever facade this release has (airflow_ops.compat picks it), a failure in it is contained.
    target = compat.stats()._target
    monkeypatch.setattr(target, "gauge", broken)
    with caplog.at_level(logging.WARNING, logger="airflow_ops.metrics"):
        assert emit(_report(files_kept=1), LOG_CLEANUP) == 0
    assert "Metrics of ops_log_cleanup / manual__1 not emitted" in caplog.text
    assert "statsd host unreachable" in caplog.text


def test_every_declared_metric_is_in_the_table_once() -> None:
    rows = metric_rows({name: kind.metrics for name, kind in KINDS.items()})
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names))
    assert len(rows) == sum(len(k.metrics) for k in KINDS.values()) + len(RUN_METRICS)


def test_docs_metrics_section_is_generated_from_the_registry() -> None:
    from airflow_ops_tools.readme import render

    text = (REPO / "docs" / "metrics.md").read_text()
    assert "<!-- section:metrics -->" in text
    assert render(text) == text, "docs/metrics.md metrics section is stale: run `.venv/bin/airflow-ops docs`"
