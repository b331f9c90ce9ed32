"""Metadata DB cleanup: ``airflow db clean`` in time windows, archive export to S3, then drop.

``tables`` holds the 3.3.2 table catalogue and the documented exclusions; ``plan`` turns a
config into successive cutoffs; ``runner`` runs the ``airflow db`` commands with the DB URL from
the ``airflow_metadata_db`` connection and counts rows through it; ``backup_gate`` refuses to run
without a recent verified backup.
"""
