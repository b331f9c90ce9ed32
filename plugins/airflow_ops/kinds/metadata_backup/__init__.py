"""``kind: metadata_backup``: schema, DAG shape, task glue and doc template; its report's metrics."""

from airflow_ops.metric import Metric

METRICS = (
    Metric("backup_bytes", "gauge", "bytes", "Size of this run's dump object.", "int"),
    Metric("db_size_bytes", "gauge", "bytes", "Size of the database that was dumped.", "int"),
    Metric(
        "dump_seconds", "timing", "seconds", "pg_dump streamed into S3, start to upload complete.", "float"
    ),
    Metric("throughput_mb_s", "gauge", "MB/s", "Dump bytes over dump_seconds.", "float"),
    Metric("tables", "gauge", "tables", "Tables in the dump.", "int"),
    Metric("rows", "gauge", "rows", "Rows in the dump's snapshot.", "int"),
    Metric("verified", "gauge", "bool", "The dump passed sha256 and pg_restore --list.", "bool"),
    Metric(
        "backup_age_hours",
        "gauge",
        "hours",
        "Age of the latest verified backup (this run's) at report time: near 0 on every verified run.",
        "float",
    ),
    Metric("full_restore_checked", "gauge", "bool", "A scratch restore compared every row count.", "bool"),
    Metric("backups_expired", "counter", "backups", "Backups retention removed (or would remove).", "int"),
    Metric("backups_kept", "gauge", "backups", "Backups kept after retention.", "int"),
    Metric("bytes_expired", "counter", "bytes", "Bytes retention removed (or would remove).", "int"),
    Metric("fernet_key_saved", "gauge", "bool", "The fernet key is backed up.", "bool"),
)
