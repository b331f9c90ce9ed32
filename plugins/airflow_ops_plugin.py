"""The airflow-ops Airflow plugin: the only module Airflow's plugin loader executes in ``plugins/``.

It registers nothing that costs at import: the runtime package ``airflow_ops`` is imported by DAG
files and tasks as a normal package (``plugins/.airflowignore`` keeps the loader out of it).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class AirflowOpsPlugin(AirflowPlugin):
    name = "airflow_ops"
