"""Schema of a ``kind: metadata_backup`` DAG instance."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictInt, model_validator

from airflow_ops.backup.compression import DEFAULT as DEFAULT_COMPRESSION
from airflow_ops.backup.compression import PATTERN as COMPRESSION_PATTERN
from airflow_ops.s3names import BucketName, KeyPrefix
from airflow_ops.schema import CommonConfig, StrictModel

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class RetentionConfig(StrictModel):
    """Grandfather-father-son: for the last N days/weeks/months that have a backup, keep the newest."""

    daily: StrictInt = Field(
        7, ge=1, le=3650, description="Keep the newest backup of this many distinct days."
    )
    weekly: StrictInt = Field(4, ge=0, le=520, description="... of this many distinct ISO weeks.")
    monthly: StrictInt = Field(6, ge=0, le=240, description="... of this many distinct calendar months.")
    dry_run: bool = Field(False, description="List what would be deleted without deleting it.")


class FernetKeyBackupConfig(StrictModel):
    """Where the fernet key is stored, separately from the dump (never inside it)."""

    type: Literal["s3", "secretsmanager"] = "s3"
    aws_conn_id: str = "aws_default"
    bucket: BucketName | None = Field(None, description="For type s3: a bucket other than the backups' one.")
    key: str = Field("airflow-ops/fernet-key.json", description="For type s3: object key.")
    kms_key_id: str | None = Field(None, description="For type s3: SSE-KMS key id (SSE-S3 when null).")
    secret_id: str | None = Field(None, description="For type secretsmanager: the secret's name or ARN.")

    @model_validator(mode="after")
    def _target(self) -> FernetKeyBackupConfig:
        if self.type == "s3" and not self.bucket:
            raise ValueError("type s3 needs bucket (a bucket or prefix separate from the backups)")
        if self.type == "secretsmanager" and not self.secret_id:
            raise ValueError("type secretsmanager needs secret_id")
        return self


class MetadataBackupConfig(CommonConfig):
    kind: Literal["metadata_backup"]
    schedule: str = "@daily"
    metadata_db_conn_id: str = Field("airflow_metadata_db", description="Postgres connection to dump.")
    aws_conn_id: str = Field("aws_default", description="AWS connection (endpoint_url extra for S3 APIs).")
    bucket: BucketName = Field("airflow-ops-backups")
    prefix: KeyPrefix = Field("metadata-backup", pattern=r"^[A-Za-z0-9_.\-/]+$")
    sse: Literal["none", "AES256", "aws:kms"] = Field("none", description="Server-side encryption.")
    kms_key_id: str | None = Field(None, description="KMS key id for sse aws:kms.")
    pg_bin_dirs: list[str] = Field(
        default_factory=lambda: ["/usr/lib/postgresql/*/bin", "/usr/local/bin", "/usr/bin"],
        description="Globs searched for pg_dump/pg_restore; the lowest version >= the server's wins.",
    )
    compression: str = Field(
        DEFAULT_COMPRESSION,
        pattern=COMPRESSION_PATTERN,
        description="pg_dump --compress as method[:level]: gzip[:0-9], lz4[:1-12] or zstd[:1-22] "
        "(pg_dump 16+), or none. gzip:1 is about 2.6x faster than pg_dump's default gzip:6 for a few "
        "% more bytes (airflow_ops.backup.compression). The former `compress_level: N` still reads "
        "as gzip:N (0: none).",
    )
    multipart_chunk_mb: StrictInt = Field(
        8, ge=5, le=512, description="S3 part size (max object = 10000 parts)."
    )
    upload_concurrency: StrictInt = Field(2, ge=1, le=16, description="Parts uploaded in parallel.")
    full_restore_days: list[Weekday] = Field(
        default_factory=lambda: list[Weekday](["sun"]),
        description="Weekdays (of the logical date) on which a full scratch restore checks row counts.",
    )
    restore_check_conn_id: str | None = Field(
        None,
        description="Postgres connection (role with CREATEDB) for the scratch restore; "
        "defaults to metadata_db_conn_id.",
    )
    retention: RetentionConfig = RetentionConfig()
    fernet_key_backup: FernetKeyBackupConfig | None = None
    save_airflow_cfg: bool = Field(True, description="Save airflow.cfg (secrets redacted) next to the dump.")
    save_packages: bool = Field(True, description="Save the installed package list next to the dump.")

    @model_validator(mode="before")
    @classmethod
    def _former_compress_level(cls, data: Any) -> Any:
        """``compress_level: N`` (the former spelling) is ``compression: gzip:N`` (0: ``none``)."""
        if not isinstance(data, dict) or "compress_level" not in data:
            return data
        data = dict(data)
        level = data.pop("compress_level")
        if level is None:
            return data
        if "compression" in data:
            raise ValueError("set compression or compress_level (its former spelling), not both")
        if type(level) is not int or not 0 <= level <= 9:
            raise ValueError(
                f"compress_level must be a whole number 0-9 (got {level!r}); better: compression: gzip:N"
            )
        data["compression"] = f"gzip:{level}" if level else "none"
        return data

    @model_validator(mode="after")
    def _checks(self) -> MetadataBackupConfig:
        if self.sse == "aws:kms" and not self.kms_key_id:
            raise ValueError("sse aws:kms needs kms_key_id")
        fk = self.fernet_key_backup
        if (
            fk is not None
            and fk.type == "s3"
            and fk.bucket == self.bucket
            and fk.key.strip("/").startswith(self.prefix.strip("/") + "/")
        ):
            raise ValueError("fernet_key_backup must not live under the backup prefix (store it separately)")
        return self
