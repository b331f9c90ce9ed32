"""Schema of a ``kind: health_probe`` DAG instance."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from airflow_ops.schema import CommonConfig, StrictModel

Component = Literal["metadatabase", "scheduler", "triggerer", "dag_processor"]
ALL_COMPONENTS: tuple[Component, ...] = ("metadatabase", "scheduler", "triggerer", "dag_processor")


class HealthThresholds(StrictModel):
    heartbeat_warning_seconds: int = Field(60, ge=5)
    heartbeat_critical_seconds: int = Field(180, ge=5)
    import_errors_warning: int = Field(1, ge=1, description="Warn at this many import errors.")
    import_errors_critical: int = Field(10, ge=1)
    stuck_task_minutes: int = Field(30, ge=1, description="A queued/scheduled task this old is stuck.")
    stuck_tasks_warning: int = Field(1, ge=1)
    stuck_tasks_critical: int = Field(10, ge=1)
    log_volume_free_warning_pct: float = Field(20, gt=0, lt=100)
    log_volume_free_critical_pct: float = Field(10, gt=0, lt=100)
    db_size_warning_gb: float = Field(20, gt=0)
    db_size_critical_gb: float = Field(50, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> HealthThresholds:
        pairs = [
            ("heartbeat_warning_seconds", "heartbeat_critical_seconds", False),
            ("import_errors_warning", "import_errors_critical", False),
            ("stuck_tasks_warning", "stuck_tasks_critical", False),
            ("db_size_warning_gb", "db_size_critical_gb", False),
            ("log_volume_free_warning_pct", "log_volume_free_critical_pct", True),
        ]
        for warn, crit, inverted in pairs:
            w, c = getattr(self, warn), getattr(self, crit)
            if (w < c) if inverted else (w > c):
                rel = ">=" if inverted else "<="
                raise ValueError(f"{warn} ({w}) must be {rel} {crit} ({c})")
        return self


class AlertChannelConfig(StrictModel):
    """An alert channel of a maintenance DAG, checked by the probe without sending anything."""

    kind: Literal["email", "webhook"]
    conn_id: str = Field(min_length=1)
    used_by: list[str] = Field(default_factory=list, description="dag_ids alerting through it")


class HealthProbeConfig(CommonConfig):
    kind: Literal["health_probe"]
    schedule: str = "*/5 * * * *"
    retries: int = Field(1, ge=1, le=10)
    retry_delay_minutes: int = Field(1, ge=1, le=1440)
    dagrun_timeout_minutes: int = Field(4, ge=1, le=60)
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
