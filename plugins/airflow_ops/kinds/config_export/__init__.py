"""``kind: config_export``: schema, DAG shape, task glue and doc template; its report's metrics."""

from airflow_ops.metric import Metric

METRICS = (
    Metric("variables", "gauge", "variables", "Variables exported.", "int"),
    Metric("connections", "gauge", "connections", "Connections exported.", "int"),
    Metric("changes", "gauge", "changes", "Changes since the previous export.", "int"),
    Metric("export_bytes", "gauge", "bytes", "Size of the encrypted export object.", "int"),
    Metric("encrypted", "gauge", "bool", "The export is encrypted.", "bool"),
    Metric("exports_kept", "gauge", "exports", "Exports kept after retention.", "int"),
    Metric("exports_expired", "counter", "exports", "Exports retention removed (or would remove).", "int"),
)
