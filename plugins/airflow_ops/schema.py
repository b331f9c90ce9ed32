"""Settings every DAG instance shares: identity, schedule, retries and alerting."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, ValidationInfo, field_validator

#: Airflow's own limits, checked here so that a config Airflow would refuse never reaches dags/
TAG_MAX_LENGTH = 100  # airflow.models.dag.TAG_MAX_LEN (the dag_tag.name column)
#: a cron expression that fires at most once in this many years is a mistake (``0 0 31 2 *`` never does)
CRON_MAX_YEARS_BETWEEN_RUNS = 8
_CRON_PRESETS = {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"}


class StrictModel(BaseModel):
    """Base model: unknown keys are errors, values are validated on assignment."""

    # allow_inf_nan: .inf would reach the DAG file as a bare ``inf`` and Airflow could not import it
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True, allow_inf_nan=False)


class EmailAlert(StrictModel):
    """Failure e-mails through an SMTP connection."""

    to: list[str] = Field(min_length=1, description="Recipients of failure e-mails.")
    conn_id: str = Field("smtp_default", description="SMTP connection (host, port, login, password).")
    from_email: str | None = Field(None, description="Sender; defaults to the connection's from_email.")

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for addr in value:
            if "@" not in addr:
                raise ValueError(f"{addr!r} is not an e-mail address")
        return value


class WebhookAlert(StrictModel):
    """Failure alerts as Slack-compatible JSON: ``text`` + ``event: task_failed``, ``dag_id``, ``run_id``,
    ``task_id``, ``try_number``, ``log_url``, ``error``."""

    conn_id: str = Field(
        "ops_alert_webhook",
        description="HTTP connection whose host is the full webhook URL (a secret: never in YAML).",
    )
    timeout_seconds: StrictFloat = Field(
        10, gt=0, le=120, description="Seconds to wait for the webhook's answer."
    )


class AlertsConfig(StrictModel):
    """Where failure alerts go: e-mail and/or a webhook (none by default)."""

    email: EmailAlert | None = None
    webhook: WebhookAlert | None = None


class DeadlineConfig(StrictModel):
    """The run must have succeeded ``minutes`` after ``after``, or its alert channels hear of it.

    Airflow's own deadline alerts (``DAG(deadline=DeadlineAlert(...))``, 3.1+): the scheduler notices
    the missed deadline, the triggerer runs the alert (``airflow_ops.notifiers.deadline_missed``).
    """

    minutes: StrictFloat = Field(
        gt=0, le=7 * 24 * 60, description="Minutes after `after` by which the run must succeed."
    )
    after: Literal["queued_at", "logical_date"] = Field(
        "queued_at",
        description="queued_at: when the run was queued (any schedule, manual runs included); "
        "logical_date: the run's logical date, so a late scheduler counts too (cron schedules only).",
    )


class CommonConfig(StrictModel):
    """Fields shared by every kind. Kind-specific models subclass this."""

    dag_id: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,200}$", description="Must equal the file name.")
    description: str = Field("", description="One line shown in the Airflow UI.")
    schedule: str = Field(description="Cron expression or preset such as @daily.")
    start_date: dt.date = Field(dt.date(2024, 1, 1), description="UTC.")
    owner: str = Field("airflow-ops", min_length=1, description="The DAG's owner.")
    tags: list[str] = Field(
        default_factory=list, validate_default=True, description="`maintenance` is always added."
    )
    retries: StrictInt = Field(2, ge=1, le=10, description="Retries of each task.")
    retry_delay_minutes: StrictInt = Field(5, ge=1, le=1440, description="Minutes between retries.")
    dagrun_timeout_minutes: StrictInt = Field(
        120, ge=1, le=7 * 24 * 60, description="Airflow fails a run still going after this."
    )
    alerts: AlertsConfig = AlertsConfig()
    #: Alert (through ``alerts``) when a run has not succeeded in time; ``None``: no deadline.
    deadline: DeadlineConfig | None = None
    #: When set and the connection exists, the run report is also written as the DAG run note.
    note_conn_id: str | None = Field("airflow_ops_api")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        value = value.strip()
        if value in _CRON_PRESETS:
            return value
        from croniter import croniter

        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(
                f"{value!r} is neither a valid cron expression (5 fields, e.g. '0 3 * * *') "
                f"nor a preset ({', '.join(sorted(_CRON_PRESETS))})"
            )
        from croniter import CroniterBadDateError

        start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        try:
            croniter(value, start, max_years_between_matches=CRON_MAX_YEARS_BETWEEN_RUNS).get_next(
                dt.datetime
            )
        except CroniterBadDateError:
            raise ValueError(
                f"{value!r} never fires (no date matches it, e.g. the 31st of February): fix the day or month"
            ) from None
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not tag.strip():
                raise ValueError("a tag is empty: remove it")
            if len(tag) > TAG_MAX_LENGTH:
                raise ValueError(
                    f"tag {tag[:20]!r}... is {len(tag)} characters; Airflow allows {TAG_MAX_LENGTH}"
                )
        tags = list(dict.fromkeys(["maintenance", *value]))
        return tags

    @field_validator("deadline")
    @classmethod
    def _deadline(cls, value: DeadlineConfig | None, info: ValidationInfo) -> DeadlineConfig | None:
        if value is None:
            return value
        alerts = info.data.get("alerts")
        if alerts is not None and alerts.email is None and alerts.webhook is None:
            raise ValueError(
                "a deadline alerts through the DAG's alert channels, and it has none: "
                "set alerts.email and/or alerts.webhook"
            )
        schedule = info.data.get("schedule")
        if value.after == "logical_date" and schedule is not None and not is_time_schedule(schedule):
            raise ValueError(
                f"after: logical_date never fires on schedule {schedule!r} (its runs have no logical "
                "date): use after: queued_at"
            )
        return value


def is_time_schedule(schedule: str) -> bool:
    """A cron expression or preset: runs with a logical date (an Asset schedule's runs have none)."""
    return schedule in _CRON_PRESETS or len(schedule.split()) == 5
