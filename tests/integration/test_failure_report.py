"""A failing step still yields a report, under a real scheduler (issue 14, item 1).

A dedicated Airflow runs one backup DAG generated from the shipped config with a bucket that does
not exist: ``pg_dump to S3`` fails, ``report`` (trigger rule ``all_done``) still runs, pushes the
failure report to XCom, writes the note, and the run ends failed. The failure alert reaches the
webhook sink (a real HTTP receiver); the e-mail channel, whose connection is not defined, is a
warning of the report and an ERROR in the log (item 4).

The same Airflow runs the shipped health probe next to a broken maintenance DAG file: the probe is
critical for the import error (item 9) and for the undefined alert channel (item 4).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_ops_tools.generator import render_all
from tests.conftest import WebhookSink
from tests.harness import AirflowStack, MotoServer, PostgresServer, RunResult, airflow_stack, wait_for

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "ops_backup_missing_bucket"
MISSING = f"airflow-ops-missing-{uuid.uuid4().hex[:8]}"
PROBE_ID = "ops_health_probe"
BROKEN = "ops_broken_maintenance.py"
NO_SMTP = "smtp_not_defined"


@pytest.fixture(scope="module")
def failing(
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PostgresServer,
    s3_server: MotoServer,
    webhook_sink: WebhookSink,
) -> Iterator[tuple[AirflowStack, RunResult]]:
    root = tmp_path_factory.mktemp("failing_backup")
    config_dir, dags_dir = root / "config", root / "dags"
    config_dir.mkdir()
    dags_dir.mkdir()
    raw = yaml.safe_load((REPO / "config" / "ops_metadata_backup.yml").read_text())
    raw.update(
        dag_id=DAG_ID,
        bucket=MISSING,
        retries=1,
        retry_delay_minutes=1,
        alerts={
            "webhook": {"conn_id": "ops_alert_webhook"},
            "email": {"to": ["ops@example.com"], "conn_id": NO_SMTP},
        },
    )
    (config_dir / f"{DAG_ID}.yml").write_text(yaml.safe_dump(raw))
    probe = yaml.safe_load((REPO / "config" / "ops_health_probe.yml").read_text())
    probe.pop("alerts", None)  # the probe's own failure would alert through smtp_default
    (config_dir / "ops_health_probe.yml").write_text(yaml.safe_dump(probe))
    for rendered in render_all(config_dir, dags_dir, root):
        rendered.dag_path.write_text(rendered.text)
    (dags_dir / BROKEN).write_text(
        "from airflow_ops.factory import build_dag\n\nraise ImportError('broken on purpose')\n"
    )
    env = {
        "AIRFLOW_CONN_AWS_DEFAULT": s3_server.aws_conn_uri(),
        "AIRFLOW_CONN_OPS_ALERT_WEBHOOK": webhook_sink.conn_json("/failing-alerts"),
        "AIRFLOW_OPS_TEST_MODE": "1",
    }
    with airflow_stack(root / "home", pg_server, dags_dir, REPO / "plugins", extra_env=env) as stack:
        stack.wait_for_dags([DAG_ID, PROBE_ID])
        wait_for(lambda: stack.import_errors(), 120, "the broken DAG file's import error")
        backup_run = stack.trigger(DAG_ID)
        probe_run = stack.trigger(
            PROBE_ID, conf={"thresholds": {"import_errors_warning": 5, "import_errors_critical": 50}}
        )
        stack.probe_result = stack.wait_run(PROBE_ID, probe_run, timeout=300)  # type: ignore[attr-defined]
        yield stack, stack.wait_run(DAG_ID, backup_run, timeout=420)


def test_run_with_a_missing_bucket_ends_failed_but_the_report_ran(
    failing: tuple[AirflowStack, RunResult],
) -> None:
    _, run = failing
    assert run.state == "failed", run.task_states
    assert run.task_states["backup"] == "failed"
    assert run.task_states["verify"] == "upstream_failed"
    # The report step ran whatever happened upstream, and failed the run on purpose.
    assert run.task_states["report"] == "failed"
    assert "Run report" in run.log_text("report")


def test_failure_report_names_step_reason_done_and_not_done(
    failing: tuple[AirflowStack, RunResult],
) -> None:
    stack, run = failing
    report: dict[str, Any] = stack.xcom(DAG_ID, run.run_id, "report", key="report")
    assert report is not None, "no report XCom for a failed run"
    assert report["ok"] is False
    failure = report["failure"]
    assert failure["step"] == "pg_dump to S3"
    assert MISSING in failure["reason"], failure["reason"]
    assert "\n" not in failure["reason"] and "Traceback" not in failure["reason"]
    assert failure["done"] == []
    assert {"pg_dump to S3", "Verify backup", "Apply retention"} <= set(failure["not_done"])
    # Every metric of the fixed schema is present, as "not measured".
    assert report["metrics"] and all(v is None for v in report["metrics"].values())


def test_failure_note_first_line_says_failed_at_step(failing: tuple[AirflowStack, RunResult]) -> None:
    _, run = failing
    first = (run.note or "").splitlines()[0]
    assert first.startswith("**Metadata DB backup: FAILED at pg_dump to S3: "), first
    assert MISSING in first
    assert "- not done: " in (run.note or "")


def test_failure_alert_reaches_the_webhook(
    failing: tuple[AirflowStack, RunResult], webhook_sink: WebhookSink
) -> None:
    _, run = failing

    def alerts() -> list[dict[str, Any]]:
        return [
            r["json"]
            for r in webhook_sink.requests
            if r["path"] == "/failing-alerts" and (r["json"] or {}).get("run_id") == run.run_id
        ]

    got = wait_for(alerts, 30, "the failure alert")
    assert {a["task_id"] for a in got} >= {"backup"}
    assert all(a["dag_id"] == DAG_ID for a in got)


def test_a_broken_alert_channel_is_a_report_warning_and_an_error_log(
    failing: tuple[AirflowStack, RunResult],
) -> None:
    stack, run = failing
    report: dict[str, Any] = stack.xcom(DAG_ID, run.run_id, "report", key="report")
    assert any(w.startswith(f"email alert channel {NO_SMTP!r} is broken") for w in report["warnings"])
    errors = [
        line
        for line in run.log_text("backup").splitlines()
        if "ALERT NOT DELIVERED: email alert" in line and NO_SMTP in line
    ]
    assert errors and all('"level":"error"' in line.replace(" ", "") for line in errors), errors


def test_probe_is_critical_for_a_broken_maintenance_file_and_alert_channel(
    failing: tuple[AirflowStack, RunResult],
) -> None:
    stack, _ = failing
    probe: RunResult = stack.probe_result  # type: ignore[attr-defined]
    assert probe.state == "failed"
    report: dict[str, Any] = stack.xcom(PROBE_ID, probe.run_id, "probe", key="report")
    rows = {r["name"]: r for r in report["rows"]}
    # One import error, far under the (raised) thresholds: critical because it is a maintenance DAG.
    assert rows["import_errors"]["value"] == 1 and rows["import_errors"]["verdict"] == "critical"
    assert rows[f"alert_channel:email:{NO_SMTP}"]["verdict"] == "critical"
    assert rows["alert_channel:webhook:ops_alert_webhook"]["verdict"] == "ok"
    assert any(BROKEN in w for w in report["warnings"]), report["warnings"]
    assert any(NO_SMTP in w and DAG_ID in w for w in report["warnings"]), report["warnings"]
