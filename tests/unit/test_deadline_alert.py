"""Deadline alerts (issue 11, part 4): the DAG argument built from the literal, and the triggerer's
callback sending through the DAG's own alert channels (a real local HTTP receiver and SMTP server)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from airflow_ops import compat
from airflow_ops.notifiers import deadline_alert, deadline_details, deadline_missed

CONTEXT = {  # what Airflow's scheduler hands the callback (Deadline.handle_miss)
    "dag_run": {
        "dag_id": "ops_metadata_backup",
        "dag_run_id": "manual__2026-12-01T10:00:00+00:00",
        "state": "running",
        "queued_at": "2026-12-01T10:00:01Z",
        "start_date": "2026-12-01T10:00:03Z",
        "logical_date": "2026-12-01T10:00:00Z",
    },
    "deadline": {"id": "0193", "deadline_time": "2026-12-01T11:30:01+00:00"},
}
DEADLINE = {"minutes": 90.0, "after": "queued_at"}


def test_no_deadline_block_no_deadline_alert() -> None:
    assert deadline_alert({"dag_id": "d", "deadline": None}) is None


def test_the_deadline_alert_is_airflows_own_with_an_importable_async_callback() -> None:
    import datetime as dt
    import importlib

    from airflow.sdk.definitions.deadline import DeadlineReference

    # AsyncCallback lives in definitions.callback from 3.2, in definitions.deadline on 3.1.
    async_callback = getattr(
        importlib.import_module("airflow.sdk.definitions.deadline"), "AsyncCallback", None
    )
    if async_callback is None or compat.capabilities()["callback_module"]:
        async_callback = importlib.import_module("airflow.sdk.definitions.callback").AsyncCallback

    alerts = {"email": None, "webhook": {"conn_id": "hook", "timeout_seconds": 10.0}}
    alert = deadline_alert(
        {"dag_id": "d", "alerts": alerts, "deadline": {"minutes": 0.5, "after": "logical_date"}}
    )
    assert alert.reference == DeadlineReference.DAGRUN_LOGICAL_DATE
    assert alert.interval == dt.timedelta(seconds=30)
    assert isinstance(alert.callback, async_callback)
    module, _, name = alert.callback.path.rpartition(".")
    assert getattr(importlib.import_module(module), name) is deadline_missed
    # JSON-native kwargs: Airflow compares them with the stored row to keep one dag_version.
    assert json.loads(json.dumps(alert.callback.kwargs)) == alert.callback.kwargs
    assert alert.callback.kwargs == {"alerts": alerts, "deadline": {"minutes": 0.5, "after": "logical_date"}}
    queued = deadline_alert({"dag_id": "d", "alerts": alerts, "deadline": DEADLINE})
    assert queued.reference == DeadlineReference.DAGRUN_QUEUED_AT


def test_deadline_details_name_the_run_and_the_deadline() -> None:
    details = deadline_details(CONTEXT, DEADLINE)
    assert details["event"] == "deadline_missed"
    assert details["dag_id"] == "ops_metadata_backup"
    assert details["run_id"] == "manual__2026-12-01T10:00:00+00:00"
    assert details["state"] == "running"
    assert details["deadline"] == "90 min after it was queued"
    assert details["deadline_time"] == "2026-12-01T11:30:01+00:00"


class _Receiver:
    """A real HTTP server on 127.0.0.1 recording JSON bodies."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def test_the_callback_posts_to_the_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = _Receiver()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_DL_HOOK", json.dumps({"conn_type": "http", "host": receiver.url}))
        alerts = {"webhook": {"conn_id": "dl_hook", "timeout_seconds": 5.0}}
        sent = asyncio.run(deadline_missed(alerts=alerts, deadline=DEADLINE, context=CONTEXT))
    finally:
        receiver.server.shutdown()
    assert sent == ["WebhookNotifier:dl_hook"]
    [body] = receiver.bodies
    assert body["event"] == "deadline_missed" and body["dag_id"] == "ops_metadata_backup"
    assert body["text"].startswith(
        ":alarm_clock: Airflow maintenance run missed its deadline: ops_metadata_backup"
    )
    assert "90 min after it was queued" in body["text"]


def test_a_broken_channel_fails_the_callback_but_not_the_other_channel(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = _Receiver()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_DL_HOOK", json.dumps({"conn_type": "http", "host": receiver.url}))
        alerts = {
            "email": {"to": ["ops@example.com"], "conn_id": "dl_smtp_undefined", "from_email": None},
            "webhook": {"conn_id": "dl_hook", "timeout_seconds": 5.0},
        }
        with (
            caplog.at_level(logging.ERROR, logger="airflow_ops.notifiers"),
            pytest.raises(RuntimeError, match=r"1 of 2 deadline alert channel\(s\) failed"),
        ):
            asyncio.run(deadline_missed(alerts=alerts, deadline=DEADLINE, context=CONTEXT))
    finally:
        receiver.server.shutdown()
    assert len(receiver.bodies) == 1, "the webhook must still deliver"
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage().startswith(
        "ALERT NOT DELIVERED: email deadline alert for ops_metadata_backup (run manual__"
    )
    assert "'dl_smtp_undefined'" in record.getMessage()
