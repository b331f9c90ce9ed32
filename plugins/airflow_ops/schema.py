"""Settings every DAG instance shares: identity, schedule, retries and alerting."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, field_validator

_CRON_PRESETS = {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"}


class StrictModel(BaseModel):
    """Base model: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True)


class EmailAlert(StrictModel):
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
    conn_id: str = Field(
        "ops_alert_webhook",
        description="HTTP connection whose host is the full webhook URL (a secret: never in YAML).",
    )
    timeout_seconds: float = Field(10, gt=0, le=120)


class AlertsConfig(StrictModel):
    email: EmailAlert | None = None
    webhook: WebhookAlert | None = None


class CommonConfig(StrictModel):
    """Fields shared by every kind. Kind-specific models subclass this."""

    dag_id: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,200}$")
    description: str = ""
    schedule: str = Field(description="Cron expression or preset such as @daily.")
    start_date: dt.date = dt.date(2024, 1, 1)
    owner: str = Field("airflow-ops", min_length=1)
    tags: list[str] = Field(default_factory=list, validate_default=True)
    retries: int = Field(2, ge=1, le=10)
    retry_delay_minutes: int = Field(5, ge=1, le=1440)
    dagrun_timeout_minutes: int = Field(120, ge=1, le=7 * 24 * 60)
    alerts: AlertsConfig = AlertsConfig()
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
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        tags = list(dict.fromkeys(["maintenance", *value]))
        return tags
