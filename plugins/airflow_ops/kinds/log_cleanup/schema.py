"""Schema of a ``kind: log_cleanup`` DAG instance."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictFloat, StrictInt, field_validator, model_validator

from airflow_ops.s3names import BucketName, KeyPrefix
from airflow_ops.schema import CommonConfig, StrictModel

QUEUE_PATTERN = r"^[A-Za-z0-9_.\-]{1,100}$"


class LogArchiveConfig(StrictModel):
    """Compress expired logs to S3 before deleting them (deleted only once the upload is confirmed)."""

    aws_conn_id: str = Field("aws_default", description="AWS connection used for the upload.")
    bucket: BucketName = Field(description="Bucket receiving the .tar.gz batches.")
    prefix: KeyPrefix = Field("logs", description="Key prefix; objects land under <prefix>/<host>/<root>/.")
    batch_max_files: StrictInt = Field(20_000, ge=1, le=1_000_000, description="Files per uploaded archive.")
    batch_max_mb: StrictInt = Field(512, ge=1, le=50_000, description="Uncompressed MB per uploaded archive.")


class LogCleanupConfig(CommonConfig):
    kind: Literal["log_cleanup"]
    schedule: str = "@daily"
    retention_days: StrictInt = Field(30, ge=1, le=3650, description="Delete log files older than this.")
    per_dag_retention_days: dict[str, StrictInt] = Field(
        default_factory=dict, description="dag_id -> retention days, overriding retention_days for that DAG."
    )
    safety_window_hours: StrictFloat = Field(
        24, ge=1, description="Never delete a file modified this recently, whatever the retention."
    )
    task_logs: bool = Field(True, description="Clean [logging] base_log_folder (task logs).")
    dag_processor_logs: bool = Field(
        True, description="Clean [logging] dag_processor_child_process_log_directory."
    )
    extra_roots: list[str] = Field(default_factory=list, description="More absolute directories to clean.")
    worker_queues: list[str] = Field(
        default_factory=lambda: ["default"],
        min_length=1,
        description="One cleanup task per Celery queue, so every worker's disk is cleaned once.",
    )
    dag_processor_logs_queue: str | None = Field(
        None,
        description="Queue whose worker shares the dag-processor's disk (default: the first worker queue).",
    )
    remove_empty_dirs: bool = Field(True, description="Remove directories left empty (never a root).")
    min_free_pct: StrictFloat | StrictInt | None = Field(
        None,
        gt=0,
        lt=100,
        description="Free-space floor: when the age rule leaves a root's volume with less free space "
        "than this percentage, delete the oldest logs first until it holds.",
    )
    max_log_bytes: StrictInt | None = Field(
        None,
        ge=1,
        description="Cap on the bytes of all roots of one worker: the oldest logs go first above it.",
    )
    min_retention_hours: StrictFloat | StrictInt | None = Field(
        None,
        ge=0,
        description="The floor never deletes a log modified more recently than this (nor inside "
        "safety_window_hours, whichever is longer).",
    )
    archive: LogArchiveConfig | None = None

    @field_validator("per_dag_retention_days")
    @classmethod
    def _positive(cls, value: dict[str, StrictInt]) -> dict[str, StrictInt]:
        for dag_id, days in value.items():
            if days < 1:
                raise ValueError(f"{dag_id}: retention must be at least 1 day (got {days})")
        return value

    @field_validator("extra_roots")
    @classmethod
    def _absolute(cls, value: list[str]) -> list[str]:
        from airflow_ops.logcleanup.roots import system_dir_problem

        for root in value:
            if not root.startswith("/"):
                raise ValueError(f"{root!r} must be an absolute path")
            problem = system_dir_problem(root)
            if problem:
                raise ValueError(f"{root!r} can never be a log root: {problem}; name the logs' own directory")
        return value

    @field_validator("worker_queues")
    @classmethod
    def _queues(cls, value: list[str]) -> list[str]:
        import re

        for queue in value:
            if not re.match(QUEUE_PATTERN, queue):
                raise ValueError(f"{queue!r} is not a valid queue name (letters, digits, _ . -)")
        if len(set(value)) != len(value):
            raise ValueError("queues must be unique (each worker is cleaned exactly once)")
        return value

    @model_validator(mode="after")
    def _dp_queue(self) -> LogCleanupConfig:
        if self.dag_processor_logs_queue and self.dag_processor_logs_queue not in self.worker_queues:
            raise ValueError(
                f"dag_processor_logs_queue {self.dag_processor_logs_queue!r} is not in worker_queues"
            )
        return self

    @property
    def effective_dag_processor_queue(self) -> str:
        return self.dag_processor_logs_queue or self.worker_queues[0]
