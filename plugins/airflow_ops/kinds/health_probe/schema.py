"""Schema of a ``kind: health_probe`` DAG instance."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictFloat, StrictInt, model_validator

from airflow_ops.s3names import BucketName, KeyPrefix
from airflow_ops.schema import CommonConfig, StrictModel

Component = Literal["metadatabase", "scheduler", "triggerer", "dag_processor"]
ALL_COMPONENTS: tuple[Component, ...] = ("metadatabase", "scheduler", "triggerer", "dag_processor")


class HealthThresholds(StrictModel):
    heartbeat_warning_seconds: StrictInt = Field(60, ge=5)
    heartbeat_critical_seconds: StrictInt = Field(180, ge=5)
    import_errors_warning: StrictInt = Field(1, ge=1, description="Warn at this many import errors.")
    import_errors_critical: StrictInt = Field(10, ge=1)
    stuck_task_minutes: StrictInt = Field(30, ge=1, description="A queued/scheduled task this old is stuck.")
    stuck_tasks_warning: StrictInt = Field(1, ge=1)
    stuck_tasks_critical: StrictInt = Field(10, ge=1)
    log_volume_free_warning_pct: StrictFloat = Field(20, gt=0, lt=100)
    log_volume_free_critical_pct: StrictFloat = Field(10, gt=0, lt=100)
    db_size_warning_gb: StrictFloat = Field(20, gt=0)
    db_size_critical_gb: StrictFloat = Field(50, gt=0)
    # Freshness: every maintenance DAG is unpaused and succeeded within N schedule intervals.
    freshness_warning_intervals: StrictFloat = Field(
        2, gt=0, description="Warn when a DAG's last success is older than this many schedule intervals."
    )
    freshness_critical_intervals: StrictFloat = Field(4, gt=0)
    paused_dag_verdict: Literal["ok", "warning", "critical"] = Field(
        "warning", description="Verdict for a paused maintenance DAG."
    )
    backup_age_warning_hours: StrictFloat = Field(
        26, gt=0, description="Latest verified backup older than this."
    )
    backup_age_critical_hours: StrictFloat = Field(50, gt=0)
    stuck_in_queued_window_minutes: StrictInt = Field(
        60, ge=1, description="Count the scheduler's 'stuck in queued' events of this window."
    )
    stuck_in_queued_warning: StrictInt = Field(1, ge=1)
    stuck_in_queued_critical: StrictInt = Field(5, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> HealthThresholds:
        pairs = [
            ("heartbeat_warning_seconds", "heartbeat_critical_seconds", False),
            ("import_errors_warning", "import_errors_critical", False),
            ("stuck_tasks_warning", "stuck_tasks_critical", False),
            ("db_size_warning_gb", "db_size_critical_gb", False),
            ("log_volume_free_warning_pct", "log_volume_free_critical_pct", True),
            ("freshness_warning_intervals", "freshness_critical_intervals", False),
            ("backup_age_warning_hours", "backup_age_critical_hours", False),
            ("stuck_in_queued_warning", "stuck_in_queued_critical", False),
        ]
        for warn, crit, inverted in pairs:
            w, c = getattr(self, warn), getattr(self, crit)
            if (w < c) if inverted else (w > c):
                rel = ">=" if inverted else "<="
                raise ValueError(f"{warn} ({w}) must be {rel} {crit} ({c})")
        return self


class BackupPointer(StrictModel):
    """Where the metadata backup's latest-verified pointer is (the metadata_backup config's defaults)."""

    bucket: BucketName = "airflow-ops-backups"
    prefix: KeyPrefix = "metadata-backup"
    aws_conn_id: str = "aws_default"


class AlertChannelConfig(StrictModel):
    """An alert channel of a maintenance DAG, checked by the probe without sending anything."""

    kind: Literal["email", "webhook"]
    conn_id: str = Field(min_length=1)
    used_by: list[str] = Field(default_factory=list, description="dag_ids alerting through it")


class HealthProbeConfig(CommonConfig):
    kind: Literal["health_probe"]
    schedule: str = "*/5 * * * *"
    retries: StrictInt = Field(1, ge=1, le=10)
    retry_delay_minutes: StrictInt = Field(1, ge=1, le=1440)
    dagrun_timeout_minutes: StrictInt = Field(4, ge=1, le=60)
    api_conn_id: str = Field("airflow_ops_api", description="HTTP connection to the api-server.")
    metadata_db_conn_id: str | None = Field(
        "airflow_metadata_db", description="Postgres connection used to measure the DB size; null skips it."
    )
    components: list[Component] = Field(default_factory=lambda: list(ALL_COMPONENTS), min_length=1)
    log_volume_path: str | None = Field(
        None, description="Path whose volume is checked; defaults to [logging] base_log_folder."
    )
    thresholds: HealthThresholds = HealthThresholds()
    alert_channels: list[AlertChannelConfig] | None = Field(
        None,
        description="Alert channels to check (each must resolve, or the probe is critical). Unset: "
        "`airflow-ops generate` fills in every channel of every config it renders.",
    )
    maintenance_dag_files: list[str] = Field(
        default_factory=lambda: ["ops_*.py"],
        description="File-name patterns of the maintenance DAG files: an import error in one is "
        "critical, whatever the import_errors thresholds.",
    )
    fail_on: Literal["warning", "critical"] = "critical"
    dead_mans_switch_conn_id: str | None = Field(
        None, description="HTTP connection whose host is a URL pinged on every healthy run."
    )
    freshness_tag: str | None = Field(
        "maintenance",
        description="DAGs with this tag must be unpaused and have succeeded within their schedule "
        "interval (the probe's own DAG excepted); null skips the check.",
    )
    expected_interval_hours: dict[str, Annotated[StrictFloat, Field(gt=0)]] = Field(
        default_factory=dict,
        description="Expected interval per DAG id, for DAGs without a cron schedule (e.g. an Asset "
        "schedule) or to override the one derived from the cron expression.",
    )
    backup: BackupPointer | None = Field(
        default_factory=BackupPointer,
        description="The latest-verified backup pointer whose age is checked; null skips the check.",
    )
    stuck_in_queued: bool = Field(
        True, description="Count the scheduler's 'stuck in queued' events (the `log` table, via REST)."
    )
