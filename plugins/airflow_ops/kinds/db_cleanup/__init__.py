"""``kind: db_cleanup``: schema, DAG shape, task glue and doc template; its report's metrics."""

from airflow_ops.metric import Metric

METRICS = (
    Metric("rows_purged", "counter", "rows", "Rows purged (dry run: that would be).", "int"),
    Metric("tables", "gauge", "tables", "Tables cleaned.", "int"),
    Metric("windows", "gauge", "windows", "airflow db clean invocations.", "int"),
    Metric("archive_tables", "gauge", "tables", "Archive tables exported to S3.", "int"),
    Metric("archive_dropped", "gauge", "bool", "Archive tables dropped after a confirmed upload.", "bool"),
    Metric("backup_age_hours", "gauge", "hours", "Age of the verified backup the purge relied on.", "float"),
    Metric("clean_seconds", "timing", "seconds", "Time spent in airflow db clean.", "float"),
)

#: The ``schedule`` value that means "after every verified metadata backup" (the Asset).
BACKUP_ASSET_SCHEDULE = "backup_asset"
