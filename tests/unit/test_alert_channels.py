"""Alert channels (issue 14, item 4): hints without admin credentials, channel checks that send
nothing, and delivery failures that are logged at ERROR and re-raised, never silent."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_ops.exceptions import MissingConnectionError
from airflow_ops.notifiers import (
    AlertChannel,
    WebhookNotifier,
    alert_warnings,
    channel_problem,
    delivery,
    failure_details,
)
from airflow_ops.registry import parse


def _conns(**conns: Any) -> Any:
    def get(conn_id: str) -> Any:
        if conn_id not in conns:
            raise MissingConnectionError(conn_id, "alerts", "...")
        return conns[conn_id]

    return get


def _http(host: str, **kw: Any) -> Any:
    return SimpleNamespace(host=host, port=kw.get("port"), schema=kw.get("schema"), conn_type="http")


def test_the_webhook_hint_never_suggests_the_admin_api_url_with_a_password() -> None:
    from airflow_ops.connections import _EXAMPLES

    for kind in ("http", "webhook"):
        assert "admin" not in _EXAMPLES[kind] and "PASSWORD" not in _EXAMPLES[kind]
        assert "api-server" not in _EXAMPLES[kind]
    assert "admin" not in _EXAMPLES["api"] and "airflow-ops-bot" in _EXAMPLES["api"]
    message = str(MissingConnectionError("ops_alert_webhook", "failure alert webhook", _EXAMPLES["webhook"]))
    assert "hooks.example.com" in message and "admin" not in message


def test_channel_checks_resolve_without_sending() -> None:
    get = _conns(
        hook=_http("https://hooks.example.com/services/x"),
        hook_no_url=_http(""),
        smtp=SimpleNamespace(host="smtp.example.com", port=587),
        smtp_no_host=SimpleNamespace(host="", port=None),
    )
    assert channel_problem(AlertChannel("webhook", "hook"), get) is None
    assert channel_problem(AlertChannel("email", "smtp"), get) is None
    assert "not defined" in (channel_problem(AlertChannel("webhook", "missing"), get) or "")
    assert "http(s) webhook URL" in (channel_problem(AlertChannel("webhook", "hook_no_url"), get) or "")
    assert "no SMTP host" in (channel_problem(AlertChannel("email", "smtp_no_host"), get) or "")


def test_probe_reports_a_broken_channel_as_critical() -> None:
    from airflow_ops.kinds.health_probe.tasks import check_alert_channels

    cfg = parse(
        {
            "kind": "health_probe",
            "dag_id": "ops_health_probe",
            "alert_channels": [
                {"kind": "webhook", "conn_id": "hook", "used_by": ["ops_a"]},
                {"kind": "email", "conn_id": "smtp_default", "used_by": ["ops_a", "ops_b"]},
            ],
        }
    )
    results = {r.name: r for r in check_alert_channels(cfg, _conns(hook=_http("https://h.example/x")))}
    assert results["alert_channel:webhook:hook"].verdict.name == "OK"
    broken = results["alert_channel:email:smtp_default"]
    assert broken.verdict.name == "CRITICAL"
    assert "'smtp_default'" in broken.detail and "alerts of ops_a, ops_b" in broken.detail


def test_generator_gives_the_probe_every_configured_channel(tmp_path: Any) -> None:
    from pathlib import Path

    from airflow_ops_tools.generator import render_all

    repo = Path(__file__).resolve().parents[2]
    rendered = {r.dag_path.name: r.text for r in render_all(repo / "config", tmp_path, repo)}
    probe = rendered["ops_health_probe.py"]
    assert "'conn_id': 'smtp_default'" in probe and "'conn_id': 'ops_alert_webhook'" in probe
    assert "'ops_metadata_backup'" in probe.split("'alert_channels'")[1]


def test_a_failing_run_reports_its_broken_alert_channels() -> None:
    alerts = {"email": {"to": ["a@b.c"], "conn_id": "smtp_x"}, "webhook": {"conn_id": "hook"}}
    warnings = alert_warnings(alerts, _conns(hook=_http("https://h.example/x")))
    assert len(warnings) == 1 and warnings[0].startswith("email alert channel 'smtp_x' is broken")


def test_a_delivery_failure_is_logged_at_error_and_raised(caplog: pytest.LogCaptureFixture) -> None:
    context = {"ti": SimpleNamespace(dag_id="d", run_id="r", task_id="t", try_number=1, log_url="u")}
    with (
        caplog.at_level(logging.ERROR, logger="airflow_ops.notifiers"),
        pytest.raises(RuntimeError),
        delivery("webhook", "ops_alert_webhook", failure_details(context)),
    ):
        raise RuntimeError("connection refused")
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    text = record.getMessage()
    assert text.startswith("ALERT NOT DELIVERED: webhook alert for d.t (run r)")
    assert "'ops_alert_webhook'" in text and "connection refused" in text


def test_a_webhook_error_status_fails_naming_the_connection_not_the_url(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import requests

    import airflow_ops.connections as connections

    secret = "https://hooks.example.com/services/SECRET"
    monkeypatch.setattr(connections, "get_connection", lambda *a, **k: _http(secret))
    monkeypatch.setattr(requests, "post", lambda *a, **k: SimpleNamespace(status_code=404))
    context = {"ti": SimpleNamespace(dag_id="d", run_id="r", task_id="t", try_number=1, log_url="u")}
    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError, match="HTTP 404"):
        WebhookNotifier(conn_id="ops_alert_webhook").notify(context)
    assert "SECRET" not in caplog.text and "ALERT NOT DELIVERED" in caplog.text


def test_the_demo_ships_a_local_alert_sink_behind_the_shipped_connections() -> None:
    import json
    import smtplib

    import requests

    from tests.harness import AlertSink, MotoServer, demo_env

    sink = AlertSink().start()
    try:
        env = demo_env(MotoServer(port=1), sink)
        hook = json.loads(env["AIRFLOW_CONN_OPS_ALERT_WEBHOOK"])
        smtp = json.loads(env["AIRFLOW_CONN_SMTP_DEFAULT"])
        assert hook["host"].startswith("http://127.0.0.1:") and smtp["host"] == "127.0.0.1"
        requests.post(hook["host"], json={"text": "FAILED ops_x.report"}, timeout=5).raise_for_status()
        with smtplib.SMTP("127.0.0.1", smtp["port"], timeout=5) as client:
            client.sendmail("a@localhost", ["ops@example.com"], "Subject: [airflow-ops] FAILED ops_x\n\nbody")
        assert [(a["channel"], a["text"]) for a in sink.alerts] == [
            ("webhook", "FAILED ops_x.report"),
            ("email", "[airflow-ops] FAILED ops_x"),
        ]
    finally:
        sink.stop()
