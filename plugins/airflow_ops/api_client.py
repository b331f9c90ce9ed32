"""A small client for the Airflow 3 REST API (v2) with JWT auth, used by tasks, CLIs and tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from airflow_ops.exceptions import AirflowOpsError


class ApiError(AirflowOpsError):
    """The api-server is unreachable or answered with an error."""


@dataclass
class AirflowApi:
    base_url: str
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0
    _token: str | None = field(default=None, repr=False)
    _session: requests.Session = field(default_factory=requests.Session, repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")

    @classmethod
    def from_connection(cls, conn: Any, timeout: float = 10.0) -> AirflowApi:
        from airflow_ops.connections import http_url

        return cls(http_url(conn), conn.login, conn.password, timeout)

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def token(self) -> str:
        if self._token is None:
            if not self.username:
                raise ApiError(f"{self.base_url}: no username configured for JWT auth (connection login)")
            try:
                resp = self._session.post(
                    self._url("/auth/token"),
                    json={"username": self.username, "password": self.password or ""},
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                raise ApiError(f"api-server {self.base_url} unreachable: {exc.__class__.__name__}") from None
            if resp.status_code >= 400:
                raise ApiError(
                    f"POST {self.base_url}/auth/token answered {resp.status_code}: check the connection's "
                    "login/password and that [api_auth] jwt_secret is identical on every component"
                )
            self._token = str(resp.json()["access_token"])
        return self._token

    def request(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        try:
            resp = self._session.request(
                method, self._url(path), headers=headers, timeout=self.timeout, **kwargs
            )
        except requests.RequestException as exc:
            raise ApiError(
                f"api-server {self.base_url} unreachable ({method} {path}): {exc.__class__.__name__}"
            ) from None
        if resp.status_code >= 400:
            raise ApiError(f"{method} {path} answered {resp.status_code}: {resp.text[:300]}")
        return resp.json() if resp.content else None

    def get(self, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        return self.request("GET", path, auth=auth, **kwargs)

    def health(self) -> dict[str, Any]:
        """``/api/v2/monitor/health``: always 200, the body says what is healthy."""
        body = self.get("/api/v2/monitor/health", auth=False)
        return dict(body)

    def import_error_count(self) -> int:
        return int(self.get("/api/v2/importErrors", params={"limit": 1})["total_entries"])

    def task_instances(self, states: list[str], limit: int = 1000) -> list[dict[str, Any]]:
        body = self.get("/api/v2/dags/~/dagRuns/~/taskInstances", params={"state": states, "limit": limit})
        return list(body["task_instances"])

    def dags(self, tag: str, limit: int = 1000) -> list[dict[str, Any]]:
        """The (non-stale) DAGs carrying ``tag``."""
        body = self.get("/api/v2/dags", params={"tags": [tag], "limit": limit, "exclude_stale": True})
        return list(body["dags"])

    def dag_runs(
        self, dag_id: str, *, state: str | None = None, order_by: str = "-run_after", limit: int = 1
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"order_by": order_by, "limit": limit}
        if state:
            params["state"] = [state]
        return list(self.get(f"/api/v2/dags/{dag_id}/dagRuns", params=params)["dag_runs"])

    def event_logs(self, events: list[str], after: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Rows of Airflow's ``log`` table with one of ``events`` newer than ``after`` (ISO 8601)."""
        body = self.get(
            "/api/v2/eventLogs",
            params={"included_events": events, "after": after, "limit": limit, "order_by": "-when"},
        )
        return list(body["event_logs"])

    def set_dag_run_note(self, dag_id: str, run_id: str, note: str) -> None:
        self.request(
            "PATCH",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}",
            params={"update_mask": "note"},
            json={"note": note[:1000]},
        )
