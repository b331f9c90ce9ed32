"""Failure alerting through Airflow's notifier API: e-mail over SMTP and a JSON webhook."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
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


#: Incremented (StatsD) for every alert that could not be delivered.
DELIVERY_FAILED_METRIC = "airflow_ops.alert_delivery_failed"


@contextlib.contextmanager
def delivery(channel: str, conn_id: str, context: Any) -> Iterator[None]:
    """Record an alert that could not be delivered: the log at ERROR (naming the channel, the
    connection and the fix), a metric, then re-raise: a failed alert is never silent."""
    try:
        yield
    except Exception as exc:
        details = failure_details(context)
        log.error(
            "ALERT NOT DELIVERED: %s alert for %s.%s (run %s) through connection %r failed: %s. "
            "Fix the connection (the health probe's alert_channel checks say what is wrong); "
            "the failure itself is in the run's report and note.",
            channel,
            details["dag_id"],
            details["task_id"],
            details["run_id"],
            conn_id,
            _one_line(exc),
        )
        with contextlib.suppress(Exception):
            from airflow.sdk.observability.stats import Stats

            Stats.incr(DELIVERY_FAILED_METRIC, tags={"channel": channel, "conn_id": conn_id})
        raise


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__


@dataclass(frozen=True)
class AlertChannel:
    """One configured alert channel: ``kind`` email or webhook, its connection, the DAGs using it."""

    kind: str
    conn_id: str
    used_by: tuple[str, ...] = ()


def alert_channels(alerts: Mapping[str, Any], dag_id: str = "") -> list[AlertChannel]:
    """The channels of one ``alerts`` block (a DAG literal's, or a validated config's dumped)."""
    out = []
    for kind in ("email", "webhook"):
        block = alerts.get(kind)
        if block:
            out.append(AlertChannel(kind, str(block["conn_id"]), (dag_id,) if dag_id else ()))
    return out


def channel_problem(channel: AlertChannel, get: Callable[[str], Any] | None = None) -> str | None:
    """Why ``channel`` cannot deliver, checked without sending anything; ``None`` when it resolves.

    The connection must exist; a webhook's must give an http(s) URL with a host; an e-mail one an
    SMTP host. ``get`` looks a connection up (default: the Task SDK, as a notifier would).
    """
    from urllib.parse import urlsplit

    from airflow_ops.connections import get_connection, http_url
    from airflow_ops.exceptions import MissingConnectionError

    try:
        conn = (
            get(channel.conn_id)
            if get
            else get_connection(channel.conn_id, f"{channel.kind} alerts", kind=_EXAMPLE_KIND[channel.kind])
        )
    except MissingConnectionError as exc:
        return str(exc)
    except Exception as exc:
        return f"connection {channel.conn_id!r} cannot be read: {_one_line(exc)}"
    if channel.kind == "webhook":
        url = urlsplit(http_url(conn))
        if url.scheme not in ("http", "https") or not url.hostname:
            return (
                f"connection {channel.conn_id!r} does not give an http(s) webhook URL: put the whole URL "
                "in its host, e.g. https://hooks.example.com/services/..."
            )
        return None
    if not (conn.host or "").strip():
        return f"connection {channel.conn_id!r} has no SMTP host: set host (and port) of the SMTP server"
    return None


def alert_warnings(alerts: Mapping[str, Any], get: Callable[[str], Any] | None = None) -> list[str]:
    """Report warnings for a failing run: each of its alert channels that cannot deliver."""
    out = []
    for ch in alert_channels(alerts):
        problem = channel_problem(ch, get)
        if problem is not None:
            out.append(
                f"{ch.kind} alert channel {ch.conn_id!r} is broken "
                f"(this failure alerts nobody there): {problem}"
            )
    return out


def alert_channel_results_name(channel: AlertChannel) -> str:
    """The health check's name for a channel, e.g. ``alert_channel:webhook:ops_alert_webhook``."""
    return f"alert_channel:{channel.kind}:{channel.conn_id}"


_EXAMPLE_KIND = {"email": "smtp", "webhook": "webhook"}


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
        with delivery("webhook", self.conn_id, context):
            import requests

            from airflow_ops.connections import get_connection, http_url

            conn = get_connection(self.conn_id, "failure alert webhook", kind="webhook")
            url = http_url(conn)
            details = failure_details(context)
            payload = {"text": failure_text(details), **details}
            resp = requests.post(url, json=payload, timeout=self.timeout_seconds)
            if resp.status_code >= 400:
                # The URL is a secret: name the connection and the status, never the URL.
                raise RuntimeError(f"the webhook answered HTTP {resp.status_code}")
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
        with delivery("email", self.conn_id, context):
            from airflow.providers.smtp.hooks.smtp import SmtpHook

            details = failure_details(context)
            subject = (
                f"[airflow-ops] FAILED {details['dag_id']}.{details['task_id']} try {details['try_number']}"
            )
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
