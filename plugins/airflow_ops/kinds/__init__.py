"""One folder per maintenance kind; the table of kinds is ``airflow_ops.registry``."""
