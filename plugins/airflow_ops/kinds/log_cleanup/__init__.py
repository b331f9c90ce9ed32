"""``kind: log_cleanup``: schema, DAG shape, task glue and doc template; its report's metrics."""

from airflow_ops.metric import Metric

METRICS = (
    Metric("files_deleted", "counter", "files", "Log files deleted (dry run: that would be).", "int"),
    Metric("bytes_freed", "counter", "bytes", "Bytes freed (dry run: that would be).", "int"),
    Metric("files_kept", "gauge", "files", "Log files kept.", "int"),
    Metric("dirs_removed", "counter", "dirs", "Empty directories removed.", "int"),
    Metric("roots", "gauge", "roots", "Log roots swept.", "int"),
    Metric("workers", "gauge", "workers", "Worker queues swept.", "int"),
    Metric("retention_days", "gauge", "days", "Retention applied.", "int"),
    Metric("free_bytes_min", "gauge", "bytes", "Least free space left on a swept volume.", "int"),
)
