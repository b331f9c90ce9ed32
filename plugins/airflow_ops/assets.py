"""Airflow Assets that airflow-ops DAGs emit and schedule on.

``METADATA_BACKUP_VERIFIED`` is emitted by the ``verify`` task of the ``metadata_backup`` DAG
(``ops_metadata_backup``) when a backup has been streamed back, its sha256 matched the manifest
and ``pg_restore --list`` (and, when due, a full scratch restore) succeeded. The DB cleanup DAG
schedules on it.

An Asset event says *that* a verified backup happened, not *which* one, and an event can be
emitted by hand. Before purging anything, a consumer must therefore read the
"latest verified backup" pointer and refuse to run when it is missing or too old:

* Location: ``s3://<bucket>/<prefix>/latest-verified.json`` where ``<bucket>``/``<prefix>`` are
  the ``bucket``/``prefix`` of the metadata_backup config (defaults: ``airflow-ops-backups`` /
  ``metadata-backup``, so ``s3://airflow-ops-backups/metadata-backup/latest-verified.json``),
  read with the same AWS connection (``aws_conn_id``, default ``aws_default``).
  ``airflow_ops.backup.pointer.LATEST_VERIFIED_NAME`` is the file name.
* Format (JSON object, UTF-8)::

      {
        "format": 1,
        "dag_id": "ops_metadata_backup",
        "logical_date": "2026-11-23T00:00:00+00:00",  # date the backup is keyed on (ISO 8601, UTC)
        "key": "metadata-backup/2026-11-23T000000Z/metadata.dump",  # the dump object
        "manifest_key": "metadata-backup/2026-11-23T000000Z/manifest.json",
        "sha256": "<64 hex>",                  # of the dump object, re-checked by verify
        "size_bytes": 123456,
        "verified_at": "2026-11-23T00:04:12+00:00",  # when verification finished (UTC)
        "full_restore_checked": false,         # true when a scratch restore compared row counts
        "database": {"system_identifier": "7714290499644688497", "dbname": "airflow"}
                                               # which DB this backs up (absent before 2026-12)
      }

  ``airflow_ops.backup.pointer.read_latest_verified(client, bucket, prefix)`` returns it parsed as a
  ``VerifiedBackup`` (or ``None``), the one type that the writer uses too; use its ``verified_at``
  to decide whether the backup is recent enough.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset

# Name only (the URI defaults to the name): a custom URI scheme makes Airflow load every
# provider's asset URI handlers (boto3 and friends, ~130 ms) each time a DAG file is parsed.
METADATA_BACKUP_VERIFIED = Asset(
    name="airflow_ops_metadata_backup_verified",
    group="airflow-ops",
)

# What consumers schedule on: a reference by name, resolved by the scheduler. Same triggering as
# the Asset itself, but hashing it is ~100x cheaper, and Airflow hashes a DAG (schedule
# included) on every ``>>`` at parse time.
METADATA_BACKUP_VERIFIED_REF = Asset.ref(name=METADATA_BACKUP_VERIFIED.name)

__all__ = ["METADATA_BACKUP_VERIFIED", "METADATA_BACKUP_VERIFIED_REF"]


def __getattr__(name: str) -> Any:
    """``LATEST_VERIFIED_NAME`` on first use: a DAG file that schedules on the Asset loads no backup code."""
    if name == "LATEST_VERIFIED_NAME":
        from airflow_ops.backup.pointer import LATEST_VERIFIED_NAME

        return LATEST_VERIFIED_NAME
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
