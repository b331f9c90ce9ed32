"""The airflow-ops plugin for a synced checkout: the only module Airflow's plugin loader executes here.

``plugins/.airflowignore`` keeps the loader out of the runtime package ``airflow_ops``, which DAG files
and tasks import as a normal package. Where airflow-ops is also pip-installed, its ``airflow.plugins``
entry point registers the same plugin; this module then defines nothing, so Airflow does not report
the plugin as registered twice.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution


def _installed_entry_point() -> bool:
    """airflow-ops is installed with its ``airflow.plugins`` entry point (Airflow registers it there)."""
    try:
        points = distribution("airflow-ops").entry_points
    except PackageNotFoundError:
        return False
    return any(p.group == "airflow.plugins" and p.name == "airflow_ops" for p in points)


if not _installed_entry_point():
    from airflow_ops.plugin import URL_PREFIX, AirflowOpsPlugin, MaintenanceApp

    __all__ = ["URL_PREFIX", "AirflowOpsPlugin", "MaintenanceApp"]
