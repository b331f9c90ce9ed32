"""Failure alerting through Airflow's notifier API: e-mail over SMTP and a JSON webhook."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)


def failure_details(context: Any) -> dict[str, Any]:
    """What an on-call engineer needs from a failure context; no secrets, no params."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    exc = context.get("exception")
    return {
        "dag_id": getattr(ti, "dag_id", None) or getattr(dag, "dag_id", None),
        "run_id": getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None),
        "task_id": getattr(ti, "task_id", None),
        "try_number": getattr(ti, "try_number", None),
        "log_url": getattr(ti, "log_url", None),
        "error": f"{type(exc).__name__}: {exc}"[:500] if exc else context.get("reason"),
    }


def failure_text(details: dict[str, Any]) -> str:
    return (
        f":red_circle: Airflow maintenance task failed: {details['dag_id']}.{details['task_id']} "
        f"(run {details['run_id']}, try {details['try_number']})\n"
        f"Error: {details['error']}\nLog: {details['log_url']}"
    )


class WebhookNotifier(BaseNotifier):
    """POST a Slack-compatible JSON payload (``text`` plus structured fields) to a webhook URL.

    The URL comes from an HTTP connection so that it never sits in the YAML or the DAG file.
    """

    template_fields = ()

    def __init__(self, *, conn_id: str, timeout_seconds: float = 10.0) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.timeout_seconds = timeout_seconds

    def notify(self, context: Any) -> None:
        import requests

        from airflow_ops.connections import get_connection, http_url

        conn = get_connection(self.conn_id, "failure alert webhook")
        url = http_url(conn)
        details = failure_details(context)
        payload = {"text": failure_text(details), **details}
        resp = requests.post(url, json=payload, timeout=self.timeout_seconds)
        resp.raise_for_status()
        log.info("Failure alert posted to webhook connection %s", self.conn_id)


class EmailNotifier(BaseNotifier):
    """E-mail through the SMTP provider's hook, with the same content as the webhook."""

    template_fields = ()

    def __init__(self, *, to: list[str], conn_id: str, from_email: str | None) -> None:
        super().__init__()
        self.to = to
        self.conn_id = conn_id
        self.from_email = from_email

    def notify(self, context: Any) -> None:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        details = failure_details(context)
        subject = f"[airflow-ops] FAILED {details['dag_id']}.{details['task_id']} try {details['try_number']}"
        body = failure_text(details).replace("\n", "<br>\n")
        with SmtpHook(smtp_conn_id=self.conn_id) as hook:
            hook.send_email_smtp(
                to=self.to,
                subject=subject,
                html_content=body,
                from_email=self.from_email or hook.from_email or "airflow-ops@localhost",
            )
        log.info("Failure alert e-mailed to %d recipient(s) via %s", len(self.to), self.conn_id)


def failure_notifiers(alerts: Mapping[str, Any]) -> list[Callable[..., Any]]:
    """Notifiers for every task's ``on_failure_callback`` (runs once, after the last retry).

    ``alerts``: the validated ``alerts`` block of a DAG file's literal (``airflow_ops.schema.AlertsConfig``).
    """
    notifiers: list[Callable[..., Any]] = []
    email = alerts.get("email")
    if email:
        notifiers.append(
            EmailNotifier(to=list(email["to"]), conn_id=email["conn_id"], from_email=email.get("from_email"))
        )
    webhook = alerts.get("webhook")
    if webhook:
        notifiers.append(
            WebhookNotifier(conn_id=webhook["conn_id"], timeout_seconds=webhook["timeout_seconds"])
        )
    return notifiers
