"""Schema of a ``kind: db_cleanup`` DAG instance."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictFloat, StrictInt, field_validator, model_validator

from airflow_ops.dbclean import tables as catalogue
from airflow_ops.dbclean.tables import DEFAULT_TABLES

#: ``schedule`` value meaning "run when the backup DAG emits its verified-backup Asset".
from airflow_ops.kinds.db_cleanup import BACKUP_ASSET_SCHEDULE
from airflow_ops.s3names import BucketName, KeyPrefix
from airflow_ops.schema import CommonConfig


class DbCleanupConfig(CommonConfig):
    kind: Literal["db_cleanup"]
    schedule: str = Field(
        BACKUP_ASSET_SCHEDULE,
        description="'backup_asset' (after each verified backup) or a cron expression / preset.",
    )
    dagrun_timeout_minutes: StrictInt = Field(360, ge=1, le=7 * 24 * 60)
    metadata_db_conn_id: str = Field(
        "airflow_metadata_db", description="Postgres connection to the metadata DB."
    )
    retention_days: StrictInt = Field(90, ge=1, le=3650, description="Default retention for every table.")
    table_retention_days: dict[str, StrictInt] = Field(
        default_factory=dict, description="table -> retention days, overriding retention_days."
    )
    tables: list[str] = Field(default_factory=lambda: list(DEFAULT_TABLES), min_length=1)
    batch_size: StrictInt = Field(
        50_000,
        ge=100,
        le=1_000_000,
        description=(
            "airflow db clean --batch-size: rows per archive table and per DELETE transaction. Larger: fewer "
            "re-scans of the unindexed recency columns; smaller: shorter row locks."
        ),
    )
    window_days: StrictInt = Field(
        30, ge=1, le=3650, description="Clean in successive cutoffs this far apart, oldest first."
    )
    max_windows: StrictInt = Field(
        12, ge=1, le=120, description="Cap on windows per run (they widen to fit)."
    )
    command_timeout_minutes: StrictInt = Field(120, ge=1, le=24 * 60)
    aws_conn_id: str = Field(
        "aws_default", description="AWS connection for the archive and the backup pointer."
    )
    archive_bucket: BucketName = Field("airflow-ops-archive")
    archive_prefix: KeyPrefix = Field("db-cleanup")
    backup_bucket: BucketName = Field(
        "airflow-ops-backups", description="Where the backup DAG writes its pointer."
    )
    backup_prefix: KeyPrefix = Field("metadata-backup")
    max_backup_age_hours: StrictFloat = Field(
        26, gt=0, description="Refuse to purge when the latest verified backup is older than this."
    )

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        value = value.strip()
        if value == BACKUP_ASSET_SCHEDULE:
            return value
        return str(CommonConfig._schedule(value))  # type: ignore[operator]

    @field_validator("tables")
    @classmethod
    def _tables(cls, value: list[str]) -> list[str]:
        for table in value:
            catalogue.check_table(table)
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _retention(self) -> DbCleanupConfig:
        for table, days in self.table_retention_days.items():
            if table not in self.tables:
                raise ValueError(f"table_retention_days.{table}: {table!r} is not in tables")
            if days < 1:
                raise ValueError(f"table_retention_days.{table}: must be at least 1 day (got {days})")
        for parent in self.tables:
            for dep in catalogue.dependents(parent):
                if dep in self.table_retention_days and self.days_for(dep) > self.days_for(parent):
                    raise ValueError(
                        f"table_retention_days.{dep} ({self.days_for(dep)}) is longer than {parent}'s "
                        f"({self.days_for(parent)}), but `airflow db clean` purges {dep} rows with {parent}"
                    )
        return self

    def days_for(self, table: str) -> int:
        return self.table_retention_days.get(table, self.retention_days)
