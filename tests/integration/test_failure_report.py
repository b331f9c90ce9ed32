"""A failing step still yields a report, under a real scheduler (issue 14, item 1).

A dedicated Airflow runs one backup DAG generated from the shipped config with a bucket that does
not exist: ``pg_dump to S3`` fails, ``report`` (trigger rule ``all_done``) still runs, pushes the
failure report to XCom, writes the note, and the run ends failed. The failure alert reaches the
webhook sink (a real HTTP receiver).
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
        alerts={"webhook": {"conn_id": "ops_alert_webhook"}},
    )
    (config_dir / f"{DAG_ID}.yml").write_text(yaml.safe_dump(raw))
    for rendered in render_all(config_dir, dags_dir, root):
        rendered.dag_path.write_text(rendered.text)
    env = {
        "AIRFLOW_CONN_AWS_DEFAULT": s3_server.aws_conn_uri(),
        "AIRFLOW_CONN_OPS_ALERT_WEBHOOK": webhook_sink.conn_json("/failing-alerts"),
        "AIRFLOW_OPS_TEST_MODE": "1",
    }
    with airflow_stack(root / "home", pg_server, dags_dir, REPO / "plugins", extra_env=env) as stack:
        stack.wait_for_dags([DAG_ID])
        yield stack, stack.run_dag(DAG_ID, timeout=420)


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
