"""Alerting through Airflow's notifier API: e-mail over SMTP and a JSON webhook.

Two events reach the same channels: a task that failed after its last retry (``on_failure_callback``,
:func:`failure_notifiers`) and a run that missed its deadline (Airflow's deadline alerts: an
``AsyncCallback`` of :func:`deadline_missed`, run by the triggerer).
"""

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
        "event": "task_failed",
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


def failure_subject(details: dict[str, Any]) -> str:
    return f"[airflow-ops] FAILED {details['dag_id']}.{details['task_id']} try {details['try_number']}"


_AFTER_WORDS = {"queued_at": "it was queued", "logical_date": "its logical date"}


def deadline_details(context: Mapping[str, Any], deadline: Mapping[str, Any]) -> dict[str, Any]:
    """What an on-call engineer needs from a missed deadline. ``context`` is what Airflow's scheduler
    hands the callback (``dag_run``: the run as the REST API shows it, ``deadline``: its time)."""
    run = context.get("dag_run") or {}
    missed = context.get("deadline") or {}
    minutes = float(deadline["minutes"])
    return {
        "event": "deadline_missed",
        "dag_id": run.get("dag_id"),
        "run_id": run.get("dag_run_id"),
        "state": run.get("state"),
        "deadline": f"{minutes:g} min after {_AFTER_WORDS.get(str(deadline['after']), deadline['after'])}",
        "deadline_time": _iso(missed.get("deadline_time")),
        "queued_at": run.get("queued_at"),
        "logical_date": run.get("logical_date"),
        "start_date": run.get("start_date"),
    }


def _iso(value: Any) -> str | None:
    import datetime as dt

    if isinstance(value, dt.datetime):
        return value.isoformat()
    return None if value is None else str(value)


def deadline_text(details: dict[str, Any]) -> str:
    return (
        f":alarm_clock: Airflow maintenance run missed its deadline: {details['dag_id']} "
        f"(run {details['run_id']}, state {details['state']}) has not succeeded "
        f"{details['deadline']} (deadline {details['deadline_time']})\n"
        f"Queued: {details['queued_at']}, started: {details['start_date']}"
    )


def deadline_subject(details: dict[str, Any]) -> str:
    return f"[airflow-ops] DEADLINE MISSED {details['dag_id']} run {details['run_id']}"


#: Incremented (StatsD) for every alert that could not be delivered.
DELIVERY_FAILED_METRIC = "airflow_ops.alert_delivery_failed"


@contextlib.contextmanager
def delivery(channel: str, conn_id: str, details: Mapping[str, Any]) -> Iterator[None]:
    """Record an alert that could not be delivered: the log at ERROR (naming the channel, the
    connection and the fix), a metric, then re-raise: a failed alert is never silent.

    ``details``: :func:`failure_details` or :func:`deadline_details`."""
    try:
        yield
    except Exception as exc:
        deadline = details.get("event") == "deadline_missed"
        what = f"{channel} deadline" if deadline else channel
        target = details.get("dag_id") if deadline else f"{details.get('dag_id')}.{details.get('task_id')}"
        log.error(
            "ALERT NOT DELIVERED: %s alert for %s (run %s) through connection %r failed: %s. "
            "Fix the connection (the health probe's alert_channel checks say what is wrong); "
            "the failure itself is in the run's report and note.",
            what,
            target,
            details.get("run_id"),
            conn_id,
            _one_line(exc),
        )
        with contextlib.suppress(Exception):
            from airflow_ops import compat

            compat.stats().incr(DELIVERY_FAILED_METRIC, tags={"channel": channel, "conn_id": conn_id})
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
        details = failure_details(context)
        self.send(details, failure_subject(details), failure_text(details))

    def send(self, details: dict[str, Any], subject: str, text: str) -> None:
        """Post one alert (``subject`` is for e-mail; a webhook message is its ``text``)."""
        with delivery("webhook", self.conn_id, details):
            import requests

            from airflow_ops.connections import get_connection, http_url

            conn = get_connection(self.conn_id, "alert webhook", kind="webhook")
            url = http_url(conn)
            resp = requests.post(url, json={"text": text, **details}, timeout=self.timeout_seconds)
            if resp.status_code >= 400:
                # The URL is a secret: name the connection and the status, never the URL.
                raise RuntimeError(f"the webhook answered HTTP {resp.status_code}")
        log.info("%s alert posted to webhook connection %s", details["event"], self.conn_id)


class EmailNotifier(BaseNotifier):
    """E-mail through the SMTP provider's hook, with the same content as the webhook."""

    template_fields = ()

    def __init__(self, *, to: list[str], conn_id: str, from_email: str | None) -> None:
        super().__init__()
        self.to = to
        self.conn_id = conn_id
        self.from_email = from_email

    def notify(self, context: Any) -> None:
        details = failure_details(context)
        self.send(details, failure_subject(details), failure_text(details))

    def send(self, details: dict[str, Any], subject: str, text: str) -> None:
        with delivery("email", self.conn_id, details):
            from airflow.providers.smtp.hooks.smtp import SmtpHook

            with SmtpHook(smtp_conn_id=self.conn_id) as hook:
                hook.send_email_smtp(
                    to=self.to,
                    subject=subject,
                    html_content=text.replace("\n", "<br>\n"),
                    from_email=self.from_email or hook.from_email or "airflow-ops@localhost",
                )
        log.info("%s alert e-mailed to %d recipient(s) via %s", details["event"], len(self.to), self.conn_id)


def failure_notifiers(alerts: Mapping[str, Any]) -> list[Any]:
    """The notifiers of one ``alerts`` block: every task's ``on_failure_callback`` (runs once, after
    the last retry), and the channels :func:`deadline_missed` sends through.

    ``alerts``: the validated ``alerts`` block of a DAG file's literal (``airflow_ops.schema.AlertsConfig``).
    """
    notifiers: list[Any] = []
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


async def deadline_missed(
    *, alerts: Mapping[str, Any], deadline: Mapping[str, Any], context: Mapping[str, Any] | None = None
) -> list[str]:
    """The deadline alert's callback: Airflow's triggerer awaits it when a run missed its deadline.

    Sends through every channel of ``alerts`` (the DAG's own, as for failures), each in a worker
    thread (the notifiers are synchronous: connections, SMTP and HTTP would block the triggerer's
    event loop). A channel that fails is logged (``ALERT NOT DELIVERED``) and counted; the others
    still send; then the callback fails naming the first failure (the callback's state in Airflow).
    Returns the channels that delivered.
    """
    import asyncio

    details = deadline_details(context or {}, deadline)
    subject, text = deadline_subject(details), deadline_text(details)
    notifiers = failure_notifiers(alerts)
    results = await asyncio.gather(
        *(asyncio.to_thread(n.send, details, subject, text) for n in notifiers), return_exceptions=True
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {len(notifiers)} deadline alert channel(s) failed: {_one_line(failed[0])}"
        )
    return [f"{type(n).__name__}:{n.conn_id}" for n in notifiers]


def deadline_alert(spec: Mapping[str, Any]) -> Any:
    """The ``DAG(deadline=...)`` of a DAG file's literal, or ``None`` without a ``deadline`` block.

    Deterministic: the callback's kwargs are the literal's own JSON-native values, so Airflow keeps
    the same deadline-alert row (and one dag_version) across re-parses.
    """
    deadline = spec.get("deadline")
    if not deadline:
        return None
    import datetime as dt

    from airflow_ops import compat

    return compat.deadline_alert(
        reference=deadline["after"],
        interval=dt.timedelta(minutes=float(deadline["minutes"])),
        callback=deadline_missed,
        kwargs={"alerts": dict(spec.get("alerts") or {}), "deadline": dict(deadline)},
        name=f"{spec['dag_id']} deadline",
    )
