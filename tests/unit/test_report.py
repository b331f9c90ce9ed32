"""Run reports render as a log table and a bounded note."""

from __future__ import annotations

from airflow_ops.report import RunReport


def _report() -> RunReport:
    return RunReport(
        dag_id="d",
        run_id="r",
        title="Backup",
        summary={"bytes": 1024, "ratio": 0.25},
        rows=[{"table": "log", "rows": 10}, {"table": "xcom", "rows": 2}],
        warnings=["no fernet key backup"],
    )


def test_table_lists_summary_rows_and_warnings() -> None:
    text = _report().render_table()
    assert "Backup: OK" in text
    assert "ratio  0.25" in text
    assert "log" in text and "xcom" in text
    assert "WARNING: no fernet key backup" in text


def test_note_is_capped_at_api_limit() -> None:
    rep = RunReport(dag_id="d", run_id="r", title="T", summary={f"k{i}": "v" * 50 for i in range(100)})
    assert len(rep.render_note()) == 1000


def test_xcom_payload_is_plain_json() -> None:
    import json

    payload = _report().to_dict()
    assert json.loads(json.dumps(payload))["summary"]["bytes"] == 1024
