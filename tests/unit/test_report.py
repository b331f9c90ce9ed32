"""The run report's fixed schema and its three renderings (log table, run note, XCom)."""

from __future__ import annotations

import json

import pytest

from airflow_ops.registry import KINDS
from airflow_ops.report import NOTE_LIMIT, SCHEMA_VERSION, Failure, Metric, RunReport, check_metrics

TOP_LEVEL = {"kind", "dag_id", "run_id", "mode", "ok", "started_at", "ended_at", "duration_s", "warnings"}


def _report(**kw: object) -> RunReport:
    values: dict[str, object] = {
        "kind": "metadata_backup",
        "dag_id": "d",
        "run_id": "r",
        "title": "Backup",
        "mode": "apply",
        "ok": True,
        "started_at": "2026-11-23T00:00:00+00:00",
        "ended_at": "2026-11-23T00:00:09.5+00:00",
        "duration_s": 9.5,
        "headline": "backup 12.3 MB verified, 9.5 s",
        "details": {"bytes": 1024, "ratio": 0.25},
        "rows": [{"table": "log", "rows": 10}, {"table": "xcom", "rows": 2}],
    }
    values.update(kw)
    return RunReport(**values)  # type: ignore[arg-type]


def test_every_report_has_the_same_top_level_fields() -> None:
    assert set(_report().to_dict()) >= TOP_LEVEL
    assert _report().to_dict()["schema_version"] == SCHEMA_VERSION


def test_first_line_carries_the_verdict_and_the_headline_figures() -> None:
    assert _report().first_line() == "Backup: OK | backup 12.3 MB verified, 9.5 s"


def test_a_warning_is_in_the_first_line() -> None:
    rep = _report(warnings=["fernet key not backed up"])
    assert rep.first_line().startswith("Backup: OK, 1 warning: fernet key not backed up")
    assert _report(warnings=["a", "b"]).status() == "OK, 2 warnings: a"


def test_a_failure_names_the_step_and_what_was_done() -> None:
    rep = _report(
        ok=False, failure=Failure("Verify backup", "sha256 mismatch", ["pg_dump to S3"], ["Verify backup"])
    )
    assert rep.first_line().startswith("Backup: FAILED at Verify backup: sha256 mismatch")
    note = rep.render_note()
    assert "done: pg_dump to S3" in note and "not done: Verify backup" in note


def test_dry_run_is_said_in_the_first_line() -> None:
    assert _report(mode="dry_run").first_line().startswith("Backup (dry run): OK")


def test_table_lists_warnings_before_details_and_rows() -> None:
    table = _report(warnings=["no fernet key backup"]).render_table()
    assert table.index("WARNING: no fernet key backup") < table.index("bytes")
    assert "ratio     0.25" in table or "0.25" in table
    assert "xcom" in table


def test_note_is_capped_and_truncation_never_cuts_a_warning() -> None:
    warnings = [f"warning number {i}" for i in range(5)]
    rep = _report(details={f"k{i}": "v" * 80 for i in range(40)}, warnings=warnings)
    note = rep.render_note()
    assert len(note) <= NOTE_LIMIT
    assert all(w in note for w in warnings)
    assert note.endswith("…")


def test_xcom_payload_is_plain_json_and_reads_back() -> None:
    payload = _report(failure=Failure("s", "r")).to_dict()
    back = RunReport.from_dict(json.loads(json.dumps(payload)))
    assert back == _report(failure=Failure("s", "r"))


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"title": "old", "summary": {}}, id="pre-schema"),
        pytest.param({"schema_version": SCHEMA_VERSION + 1}, id="newer-version"),
        pytest.param({"schema_version": SCHEMA_VERSION, "kind": "x"}, id="incomplete"),
    ],
)
def test_other_payloads_read_as_no_data(payload: dict[str, object]) -> None:
    assert RunReport.from_dict(payload) is None


def test_metric_check_names_every_problem() -> None:
    declared = (Metric("a", "gauge", "bytes", "A", "int"), Metric("b", "gauge", "s", "B", "float"))
    rep = _report(metrics={"a": "12", "c": 1})
    problems = check_metrics(rep, declared)
    assert any("'a' should be int" in p for p in problems)
    assert any("'b' is missing" in p for p in problems)
    assert any("'c' is not declared" in p for p in problems)
    assert check_metrics(_report(metrics={"a": 1, "b": None}), declared) == []


def test_metric_names_are_snake_case_and_unique_per_kind() -> None:
    for kind in KINDS.values():
        names = [m.name for m in kind.metrics]
        assert len(names) == len(set(names)), kind.name
        assert all(n.isidentifier() and n == n.lower() for n in names), kind.name


def test_a_url_password_or_a_registered_secret_reaches_no_rendering_of_the_report() -> None:
    """Issue 19: the failure reason, warnings, details and rows pass through the one redactor."""
    from airflow_ops import redact as redact_module

    url = "postgresql://u:SECRETPW@h/db"
    redact_module.register_secret("REGISTERED-TOKEN-9")
    try:
        report = _report(
            ok=False,
            warnings=[f"could not reach {url}", "key REGISTERED-TOKEN-9 was refused"],
            details={"target": url, "db": {"url": url, "tries": 3}},
            rows=[{"target": url, "rows": 1}],
            failure=Failure(step="dump", reason=f"pg_dump {url} exited 1", done=[url], not_done=["upload"]),
        )
        outputs = {
            "to_dict": json.dumps(report.to_dict()),
            "render_table": report.render_table(),
            "render_note": report.render_note(),
            "render_note_cut": report.render_note(limit=60),
            "status": report.status(),
            "first_line": report.first_line(),
        }
    finally:
        redact_module._registered.discard("REGISTERED-TOKEN-9")
    for name, text in outputs.items():
        assert "SECRETPW" not in text, name
        assert "REGISTERED-TOKEN-9" not in text, name
    assert "postgresql://u:***@h/db" in outputs["render_table"]
    assert "postgresql://u:***@h/db" in outputs["render_note"]
    # the figures are kept: only strings are touched
    data = report.to_dict()
    assert data["details"]["db"]["tries"] == 3 and data["rows"][0]["rows"] == 1
    assert RunReport.from_dict(data) is not None


def test_redaction_leaves_the_report_itself_unchanged() -> None:
    report = _report(warnings=["postgresql://u:SECRETPW@h/db"])
    report.to_dict()
    assert report.warnings == ["postgresql://u:SECRETPW@h/db"]
