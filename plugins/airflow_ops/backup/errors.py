"""Errors of the backup package (part of the :class:`AirflowOpsError` family)."""

from __future__ import annotations

from airflow_ops.exceptions import AirflowOpsError


class BackupError(AirflowOpsError):
    """A metadata backup, verification, retention or restore step failed."""


class PgToolVersionError(BackupError):
    """No pg_dump/pg_restore at least as new as the server's major version is installed."""


class BackupSourceError(BackupError):
    """The metadata DB could not be read (connection, credentials, pg_dump failure)."""


class BackupTargetError(BackupError):
    """The S3 target is unusable (missing bucket, access denied, endpoint down)."""


class VerificationError(BackupError):
    """A backup did not verify (checksum mismatch, unreadable archive, row counts differ)."""


class RestoreRefused(BackupError):
    """A restore would overwrite data and was not forced."""
