"""The airflow-ops Airflow plugin: the Maintenance page (a FastAPI app) and its nav entry.

Registered one of two ways, never both: installed into an image (``pip install airflow-ops``) through
the ``airflow.plugins`` entry point; synced as a checkout through ``plugins/airflow_ops_plugin.py``,
which Airflow's plugins-folder loader executes. This module runs in every Airflow process, task
processes included, so it imports nothing else of the package: the page's app
(``airflow_ops.console``) is built on its first request, which only ever reaches the api-server.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/maintenance"


class MaintenanceApp:
    """ASGI app mounted at :data:`URL_PREFIX`; creates the FastAPI app on the first request."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from airflow_ops.console.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class AirflowOpsPlugin(AirflowPlugin):
    name = "airflow_ops"
    fastapi_apps = [{"app": MaintenanceApp(), "url_prefix": URL_PREFIX, "name": "airflow-ops maintenance"}]
    # Shown inside the UI (an iframe under /plugin/maintenance); the UI's JWT cookie goes with it.
    # nav_top_level is read from Airflow 3.3 on; 3.1 and 3.2 ignore it (airflow_ops.compat).
    external_views = [
        {
            "name": "Maintenance",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "maintenance",
            "nav_top_level": True,
        }
    ]
