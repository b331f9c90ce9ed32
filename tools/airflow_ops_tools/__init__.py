"""Developer and operator tooling for airflow-ops: the ``airflow-ops`` command, generator, cfg renderer.

Nothing here is imported by Airflow processes; the runtime package is ``airflow_ops`` in ``plugins/``.
"""
