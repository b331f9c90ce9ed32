"""``kind: health_probe``: schema, DAG shape, task glue and doc template; its report's metrics."""

from airflow_ops.metric import Metric

METRICS = (
    Metric("verdict", "gauge", "level", "Worst verdict of the run: 0 ok, 1 warning, 2 critical.", "int"),
    Metric("checks", "gauge", "checks", "Checks run.", "int"),
    Metric("critical", "gauge", "checks", "Checks at critical.", "int"),
    Metric("warning", "gauge", "checks", "Checks at warning.", "int"),
    Metric("log_volume_free_pct", "gauge", "percent", "Free space on the log volume.", "float"),
    Metric("metadata_db_size_bytes", "gauge", "bytes", "Size of the metadata database.", "int"),
    Metric("import_errors", "gauge", "files", "DAG files with import errors.", "int"),
    Metric("backup_age_hours", "gauge", "hours", "Age of the latest verified backup (its pointer).", "float"),
    Metric("stale_dags", "gauge", "dags", "Maintenance DAGs paused or without a recent success.", "int"),
    Metric(
        "stuck_in_queued_events",
        "gauge",
        "events",
        "The scheduler's 'stuck in queued' events in the window.",
        "int",
    ),
)
