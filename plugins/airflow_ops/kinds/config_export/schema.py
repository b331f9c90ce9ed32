"""Schema of a ``kind: config_export`` DAG instance (Variables and Connections export to S3)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt, model_validator

from airflow_ops.s3names import BucketName, KeyPrefix
from airflow_ops.schema import CommonConfig, StrictModel


class ExportEncryption(StrictModel):
    key_conn_id: str | None = Field(
        "ops_export_key",
        description="Connection whose password is the export key (>= 32 characters; comma-separated "
        "keys rotate: the first encrypts, all decrypt). Not the Airflow fernet key.",
    )
    allow_plaintext: bool = Field(
        False,
        description="Upload unencrypted when the key connection is missing. Local profile only.",
    )
    sse_kms_key_id: str | None = Field(
        None, description="Also ask S3 for SSE-KMS with this key id/ARN (on top of client-side encryption)."
    )


class ExportRetention(StrictModel):
    keep_last: StrictInt = Field(7, ge=1, description="Always keep the newest N exports.")
    keep_daily: StrictInt = Field(7, ge=0, description="Keep the newest export of each of the last N days.")
    keep_weekly: StrictInt = Field(
        4, ge=0, description="Keep the newest export of each of the last N ISO weeks."
    )
    keep_monthly: StrictInt = Field(
        12, ge=0, description="Keep the newest export of each of the last N months."
    )


class ConfigExportConfig(CommonConfig):
    kind: Literal["config_export"]
    schedule: str = "@daily"
    metadata_db_conn_id: str = Field(
        "airflow_metadata_db", description="Postgres connection to the metadata DB (read-only is enough)."
    )
    fernet_key_conn_id: str | None = Field(
        None,
        description="Connection whose password is the Airflow fernet key used to decrypt stored values; "
        "null reads [core] fernet_key from the worker's configuration.",
    )
    aws_conn_id: str = Field("aws_default", description="AWS connection for the bucket.")
    bucket: BucketName
    prefix: KeyPrefix = Field("config-export", description="Key prefix; the dag_id is appended.")
    encryption: ExportEncryption = ExportEncryption()
    retention: ExportRetention = ExportRetention()

    @model_validator(mode="after")
    def _key_or_plaintext(self) -> ConfigExportConfig:
        if self.encryption.key_conn_id is None and not self.encryption.allow_plaintext:
            raise ValueError(
                "encryption.key_conn_id is null and encryption.allow_plaintext is false: "
                "set a key connection (recommended) or allow plaintext for the local profile only"
            )
        return self
