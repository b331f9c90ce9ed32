"""The Maintenance page's pure parts: report decoding, attention rules, charts, empty states."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_ops.console import page
from airflow_ops.console.data import ChartRun, DagInfo, RunInfo, Snapshot, chart_run, decode_report

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def report(kind: str, dag_id: str, run_id: str, when: dt.datetime, ok: bool = True, **metrics: Any) -> Any:
    data = {
        "schema_version": 1,
        "kind": kind,
        "dag_id": dag_id,
        "run_id": run_id,
        "title": kind,
        "mode": "apply",
        "ok": ok,
        "started_at": when.isoformat(),
        "ended_at": when.isoformat(),
        "duration_s": 1.0,
        "headline": f"{kind} <b>headline</b>",
        "metrics": metrics,
        "failure": None if ok else {"step": "dump", "reason": "pg_dump exited 1"},
    }
    return decode_report(data)


def run(dag: str, run_id: str, when: dt.datetime, state: str = "success", rep: Any = None) -> RunInfo:
    return RunInfo(dag, run_id, state, when, when, when + dt.timedelta(seconds=5), rep)


def point(run: RunInfo) -> ChartRun:
    """``run`` as a window row (what data.load reads for the charts)."""
    assert run.run_after is not None
    return chart_run(run.dag_id, run.run_id, run.run_after, run.report.to_dict() if run.report else None)


def dag(dag_id: str, paused: bool = False, interval: dt.timedelta | None = DAY) -> DagInfo:
    return DagInfo(dag_id, paused, NOW + dt.timedelta(hours=1), interval, "@daily")


def test_decode_report_is_none_for_other_versions_and_garbage() -> None:
    good = report("metadata_backup", "ops_metadata_backup", "r1", NOW, backup_bytes=5)
    assert good is not None and good.metrics == {"backup_bytes": 5}
    as_json = json.dumps(good.to_dict())
    assert decode_report(as_json) == good
    assert decode_report({**good.to_dict(), "schema_version": 0}) is None
    assert decode_report({**good.to_dict(), "unexpected": 1}) is None
    for junk in (None, "not json", 3, [1, 2], b"\xff"):
        assert decode_report(junk) is None


def test_a_window_row_is_a_report_exactly_when_decode_report_gives_one() -> None:
    good = report("health_probe", "ops_health_probe", "h1", NOW, ok=False, critical=2).to_dict()
    values: list[Any] = [
        good,
        json.dumps(good),  # set through the REST API: a JSON string in the JSONB column
        {k: v for k, v in good.items() if k not in ("rows", "details", "warnings", "headline")},  # trimmed
        {**good, "schema_version": 0},
        {**good, "unexpected": 1},
        {k: v for k, v in good.items() if k != "title"},
        {**good, "failure": {"step": "x"}},  # a failure without its reason
        {**good, "failure": "boom"},
        {**good, "failure": {}},  # falsy: no failure
        {**good, "failure": {"step": "s", "reason": "r", "done": [], "not_done": [], "x": 1}},
        {**good, "metrics": [1]},
        None,
        "not json",
        3,
        [1, 2],
        b"\xff",
    ]
    for value in values:
        row = chart_run("d", "r", NOW, value)
        decoded = decode_report(value)
        assert row.report == (decoded is not None), value
        if decoded is not None:
            assert (row.kind, row.ok, row.failed) == (decoded.kind, decoded.ok, decoded.failure is not None)
            if isinstance(decoded.metrics, dict):
                assert row.metrics == decoded.metrics


def test_attention_names_each_problem() -> None:
    backup = report("metadata_backup", "ops_metadata_backup", "b1", NOW - 3 * DAY, verified=True)
    health = report(
        "health_probe", "ops_health_probe", "h1", NOW, ok=False, critical=1, log_volume_free_pct=4.0
    )
    failed = report("config_export", "ops_config_export", "e1", NOW - DAY, ok=False)
    b = run("ops_metadata_backup", "b1", NOW - 3 * DAY, rep=backup)
    snap = Snapshot(
        dags=[
            dag("ops_metadata_backup"),
            dag("ops_config_export"),
            dag("ops_health_probe", interval=dt.timedelta(minutes=5)),
            dag("ops_db_cleanup", paused=True, interval=None),
        ],
        latest={
            "ops_metadata_backup": b,
            "ops_config_export": run("ops_config_export", "e1", NOW - DAY, "failed", failed),
            "ops_health_probe": run("ops_health_probe", "h1", NOW, "failed", health),
        },
        last_success={
            "ops_metadata_backup": NOW - 3 * DAY,
            "ops_health_probe": NOW - dt.timedelta(minutes=4),
        },
        window=[point(b)],
        latest_verified_backup=b,
    )
    problems = {(p.dag_id, p.code) for p in page.attention(snap, NOW, page.Thresholds())}
    assert problems == {
        ("ops_metadata_backup", "stale"),  # 3 days > 2 x 1 day
        ("ops_metadata_backup", "backup_age"),  # 72 h > 36 h
        ("ops_config_export", "failed"),
        ("ops_config_export", "stale"),  # never succeeded
        ("ops_health_probe", "failed"),
        ("ops_health_probe", "health_critical"),
        ("ops_health_probe", "log_volume"),
        ("ops_db_cleanup", "paused"),
    }
    texts = [p.text for p in page.attention(snap, NOW, page.Thresholds())]
    assert any("e1 failed: dump: pg_dump exited 1" in t for t in texts)


def test_charts_show_no_data_points_and_explain_empty_ones() -> None:
    good = report("metadata_backup", "ops_metadata_backup", "b1", NOW - DAY, backup_bytes=12_000_000)
    snap = Snapshot(
        dags=[dag("ops_metadata_backup"), dag("ops_config_export")],
        latest={},
        last_success={},
        window=[
            point(run("ops_metadata_backup", "b1", NOW - DAY, rep=good)),
            point(run("ops_metadata_backup", "b2", NOW - 2 * DAY, rep=None)),  # missing XCom / older schema
        ],
        latest_verified_backup=None,
    )
    html = page.render(snap, now=NOW, days=30, limits=page.Thresholds(), username="admin")
    assert 'data-run="b1" data-value="12"' in html
    assert 'class="point nodata" data-run="b2"' in html
    assert "no config export run in this window yet, trigger ops_config_export" in html
    assert "no verified backup yet (trigger ops_metadata_backup)" in html
    assert "<b>headline</b>" not in html  # escaped
    assert "http" not in html  # nothing fetched from anywhere


def test_no_dags_and_bad_window_values() -> None:
    empty = Snapshot([], {}, {}, [], None)
    html = page.render(empty, now=NOW, days=30, limits=page.Thresholds(), username="u")
    assert 'data-problem="no_dags"' in html
    assert page.parse_days("7") == 7
    assert page.parse_days("x") == page.DEFAULT_WINDOW
    assert page.parse_days(None) == page.DEFAULT_WINDOW
    assert page.parse_days("100000") == 366


def test_long_series_are_thinned_keeping_the_last_point() -> None:
    pts = [page.Point(NOW - dt.timedelta(minutes=i), f"r{i}", float(i)) for i in range(2000, 0, -1)]
    thin = page._thin(pts)
    assert len(thin) == page.MAX_POINTS and thin[-1] is pts[-1]


def test_a_thinned_verdict_timeline_keeps_every_critical_bucket() -> None:
    pts = [page.Point(NOW - dt.timedelta(minutes=i), f"r{i}", 0.0) for i in range(9000, 0, -1)]
    pts[4321].value = 2.0
    thin = page._worst(pts)
    assert len(thin) == page.MAX_POINTS and pts[4321] in thin


def test_the_first_page_takes_the_startup_heap_out_of_the_collectors_reach(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the page asks of the collector, spied on: a collection, then a freeze, once per process.

    Not gc's own counters: ``gc.get_freeze_count()`` moves with whatever else the process frees or
    freezes (a fresh machine saw it move by 2), so it cannot say what the page did.
    """
    import gc

    from airflow_ops.console import app

    calls: list[str] = []
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append("collect") or 0)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    if app._time_gc in gc.callbacks:
        gc.callbacks.remove(app._time_gc)
    try:
        app._settle_heap()
        assert calls == ["collect", "freeze"] and app._time_gc in gc.callbacks
        app._settle_heap()  # once per process: a second page collects and freezes nothing
        assert calls == ["collect", "freeze"]
        gc.callbacks.remove(app._time_gc)  # a real collection must not read the clock below
        # The callback times each collection for Server-Timing: start to stop, on perf_counter.
        clock = iter([10.0, 10.25])
        monkeypatch.setattr(app, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
        monkeypatch.setattr(app, "_gc_ms", [0.0, 0.0])
        app._time_gc("start", {})
        app._time_gc("stop", {})
        assert app._gc_ms == [250.0, 10.0]
    finally:
        if app._time_gc in gc.callbacks:
            gc.callbacks.remove(app._time_gc)


def test_the_page_names_the_airflow_release_it_runs_on() -> None:
    empty = Snapshot([], {}, {}, [], None)
    html = page.render(
        empty, now=NOW, days=30, limits=page.Thresholds(), username="u", airflow_version="3.1.8"
    )
    assert '<span id="airflow-version">Airflow 3.1.8</span>' in html
    assert "airflow-version" not in page.render(
        empty, now=NOW, days=30, limits=page.Thresholds(), username="u"
    )
