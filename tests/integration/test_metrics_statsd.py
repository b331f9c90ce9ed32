"""Report metrics from runs under the real scheduler reach a real UDP StatsD listener.

The shared Airflow runs with ``[metrics] statsd_on`` pointed at ``statsd_sink`` (tests/conftest.py),
so the task process's facade is Airflow's own StatsD logger; plain StatsD keeps no tags, so the names
carry the DAG id: ``airflow.airflow_ops.<kind>.<dag_id>.<metric>``.
"""

from __future__ import annotations

import re

import pytest

from tests.harness import AirflowStack, StatsdSink

pytestmark = [pytest.mark.integration, pytest.mark.airflow]
PROBE = "airflow.airflow_ops.health_probe.ops_health_probe."
CLEANUP = "airflow.airflow_ops.log_cleanup.ops_log_cleanup."


def _values(lines: list[str], prefix: str) -> dict[str, tuple[float, str]]:
    """``{metric: (value, type)}`` of the lines under ``prefix`` (the last value of each)."""
    out = {}
    for line in lines:
        m = re.fullmatch(re.escape(prefix) + r"([a-z0-9_]+):(-?[0-9.e+]+)\|(g|c|ms)", line)
        assert m, f"not a StatsD line of ours: {line!r}"
        out[m.group(1)] = (float(m.group(2)), m.group(3))
    return out


def test_health_probe_run_sends_its_verdict_and_figures(
    airflow: AirflowStack, statsd_sink: StatsdSink
) -> None:
    mark = statsd_sink.mark()
    run = airflow.run_dag("ops_health_probe")
    assert run.state == "success", run.log_text()[-3000:]
    statsd_sink.wait_for(mark, PROBE + "runs_failed")
    got = _values(statsd_sink.since(mark, PROBE), PROBE)
    report = airflow.xcom("ops_health_probe", run.run_id, "probe", key="report")
    # ok, or a warning when no backup has run yet in this session (backup_age_hours: no pointer)
    assert got["verdict"] == (float(report["metrics"]["verdict"]), "g") and got["verdict"][0] <= 1
    assert got["stale_dags"] == (0.0, "g")
    assert got["checks"] == (float(report["metrics"]["checks"]), "g")
    assert got["critical"] == (0.0, "g")
    assert got["import_errors"] == (0.0, "g")
    assert got["metadata_db_size_bytes"] == (float(report["metrics"]["metadata_db_size_bytes"]), "g")
    assert 0 < got["log_volume_free_pct"][0] <= 100
    assert got["run_ok"] == (1.0, "g")
    assert got["runs_failed"] == (0.0, "c")
    assert got["run_seconds"][1] == "ms" and got["run_seconds"][0] > 0
    # Airflow's own metrics share the listener: the facade is the one the task runner set up.
    assert any(
        line.startswith("airflow.ti.finish") or "ti_successes" in line for line in statsd_sink.since(mark)
    )


def test_failed_health_probe_counts_a_failure(airflow: AirflowStack, statsd_sink: StatsdSink) -> None:
    mark = statsd_sink.mark()
    run = airflow.run_dag(
        "ops_health_probe",
        conf={"thresholds": {"log_volume_free_warning_pct": 99.99, "log_volume_free_critical_pct": 99.98}},
    )
    assert run.state == "failed"
    statsd_sink.wait_for(mark, PROBE + "runs_failed")
    got = _values(statsd_sink.since(mark, PROBE), PROBE)
    assert got["verdict"] == (2.0, "g")
    assert got["critical"][0] >= 1
    assert got["run_ok"] == (0.0, "g")
    assert got["runs_failed"] == (1.0, "c")


def test_log_cleanup_dry_run_sends_gauges_but_no_counters(
    airflow: AirflowStack, statsd_sink: StatsdSink
) -> None:
    mark = statsd_sink.mark()
    run = airflow.run_dag("ops_log_cleanup", conf={"dry_run": True, "retention_days": 30})
    assert run.state == "success", run.log_text()[-3000:]
    statsd_sink.wait_for(mark, CLEANUP + "runs_failed")
    got = _values(statsd_sink.since(mark, CLEANUP), CLEANUP)
    metrics = airflow.xcom("ops_log_cleanup", run.run_id, "report", key="report")["metrics"]
    assert got["retention_days"] == (30.0, "g")
    assert got["files_kept"] == (float(metrics["files_kept"]), "g")
    assert got["roots"] == (float(metrics["roots"]), "g")
    assert got["workers"] == (1.0, "g")
    assert got["free_bytes_min"] == (float(metrics["free_bytes_min"]), "g")
    assert got["run_ok"] == (1.0, "g") and got["runs_failed"] == (0.0, "c")
    # nothing was deleted: the would-be counts stay in the report, not in the counters
    assert not {"files_deleted", "bytes_freed", "dirs_removed"} & set(got)


def test_metadata_backup_sends_size_duration_and_backup_age(
    airflow: AirflowStack, statsd_sink: StatsdSink
) -> None:
    prefix = "airflow.airflow_ops.metadata_backup.ops_metadata_backup."
    mark = statsd_sink.mark()
    run = airflow.run_dag("ops_metadata_backup", timeout=300)
    assert run.state == "success", run.log_text()[-3000:]
    statsd_sink.wait_for(mark, prefix + "runs_failed")
    got = _values(statsd_sink.since(mark, prefix), prefix)
    metrics = airflow.xcom("ops_metadata_backup", run.run_id, "report", key="report")["metrics"]
    assert got["backup_bytes"] == (float(metrics["backup_bytes"]), "g") and got["backup_bytes"][0] > 0
    assert got["db_size_bytes"] == (float(metrics["db_size_bytes"]), "g")
    assert got["verified"] == (1.0, "g")
    assert got["dump_seconds"] == (pytest.approx(metrics["dump_seconds"] * 1000), "ms")
    assert 0 <= got["backup_age_hours"][0] < 0.25 and got["backup_age_hours"][1] == "g"
    assert got["run_ok"] == (1.0, "g")
