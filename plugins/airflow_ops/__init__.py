"""airflow-ops: production maintenance DAGs for Apache Airflow 3.

The package owns all logic; files in ``dags/`` only call :func:`airflow_ops.factory.build_dag`.
Importing it has no side effects and touches no Airflow globals, database or network.
"""

__version__ = "0.1.0"
