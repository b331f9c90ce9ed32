"""The config export run report: counts and names, never values."""

from __future__ import annotations

from typing import Any

from airflow_ops.kinds.config_export import METRICS, tasks
from airflow_ops.registry import parse
from airflow_ops.report import check_metrics
from tests.runs import make_run

CFG = parse({"kind": "config_export", "dag_id": "x", "bucket": "b-exports", "note_conn_id": None})


def _summary(**diff: list[str]) -> dict[str, Any]:
    names = {
        f: diff.get(f, [])
        for f in (
            "added_variables",
            "removed_variables",
            "changed_variables",
            "added_connections",
            "removed_connections",
            "changed_connections",
        )
    }
    return {
        "variables": 3,
        "connections": 2,
        "bucket": "b-exports",
        "object_key": "p/k.aopscx",
        "object_bytes": 10,
        "encrypted": True,
        "key_id": "abc",
        "dry_run": False,
        "diff": {"previous": "p/old.aopscx", "comparable": True, **names},
        "diff_total": sum(len(v) for v in names.values()),
        "warnings": [],
    }


def test_report_names_changed_keys_and_conn_ids() -> None:
    out = tasks.report(
        CFG,  # type: ignore[arg-type]
        make_run("config_export"),
        _summary(changed_variables=["db_password"], added_connections=["pg_new"]),
        {"exports": 3, "expired": [], "deleted": 0},
    )
    assert not check_metrics(out, METRICS)
    assert out.metrics["changes"] == 2
    rows = {r["change"]: r for r in out.rows}
    assert rows["changed variables"] == {"change": "changed variables", "count": 1, "names": "db_password"}
    assert rows["added connections"]["names"] == "pg_new"
    assert out.details["changes since previous"] == 2
    assert "db_password" in out.render_table()


def test_first_export_is_labelled_as_such() -> None:
    summary = _summary(added_variables=["a"])
    summary["diff"]["previous"] = None
    out = tasks.report(CFG, make_run("config_export"), summary, {"exports": 1, "expired": [], "deleted": 0})  # type: ignore[arg-type]
    assert out.details["changes since previous"] == "first export"
    assert out.metrics["changes"] is None


def test_unencrypted_export_is_flagged_in_the_summary() -> None:
    summary = _summary()
    summary["encrypted"] = False
    out = tasks.report(CFG, make_run("config_export"), summary, {"exports": 1, "expired": [], "deleted": 0})  # type: ignore[arg-type]
    assert out.details["encrypted"] == "NO"
    assert "NOT encrypted" in out.first_line()
