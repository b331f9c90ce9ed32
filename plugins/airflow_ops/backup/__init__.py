"""Metadata DB backup: pg_dump streamed to S3, manifest, verification, GFS retention and restore.

Library code only (no Airflow globals): the DAG tasks in ``pipelines/metadata_backup_tasks.py``,
``scripts/restore_metadata_db.py`` and ``bench/backup.py`` call it with a boto3 S3 client and a
:class:`~airflow_ops.connections.PostgresTarget`.
"""
