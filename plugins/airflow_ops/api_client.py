"""A small client for the Airflow 3 REST API (v2) with JWT auth, used by tasks, CLIs and tests."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from airflow_ops.exceptions import AirflowOpsError


class ApiError(AirflowOpsError):
    """The api-server is unreachable or answered with an error."""


class ApiUnreachableError(ApiError):
    """No HTTP answer at all (connection refused, DNS, timeout)."""


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]


#: The largest answer read (16 MiB): a list of 1000 task instances is ~2 MB; beyond this the server is
#: not the api-server, or is sending without end, and reading on would only exhaust memory.
MAX_BODY_BYTES = 16 << 20


#: How long the caller waits, after shutting a late request's sockets, for its worker thread to end. The
#: thread is no longer blocked on the server then (its reads fail at once); this only lets it finish
#: now rather than later, and a loaded machine that has not scheduled it yet changes nothing.
WIND_DOWN_S = 1.0


class _Inflight:
    """The sockets one request's worker thread uses, and the caller's cancel, behind one lock.

    The worker *watches* every socket it is about to read: a new connection's socket as soon as it is
    connected (before any TLS handshake), a pooled connection's socket before the request is sent. The
    caller *cancels* at the deadline. Both take the lock, so there is no window: a socket watched before
    the cancel is shut by it, a socket watched after it is shut at once by ``watch``. Either way the
    worker's next read on it (or the one it is blocked in) fails at once.

    Each watched socket is held as a duplicate descriptor: shutting it shuts the connection whatever
    object wraps the original (an ``SSLSocket`` detaches the socket it wraps), and the number cannot be
    reused by another socket while it is held. ``release`` (the worker, when it is done) closes them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handles: list[socket.socket] = []
        self._cancelled = False

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self._cancelled:
                _shut(sock)
                return
            with contextlib.suppress(OSError):  # closed under us: nothing left to read from it
                self._handles.append(socket.fromfd(sock.fileno(), sock.family, sock.type))

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            for handle in self._handles:
                _shut(handle)

    def release(self) -> None:
        with self._lock:
            for handle in self._handles:
                handle.close()
            self._handles.clear()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected or already shut: nothing to wake
        sock.shutdown(socket.SHUT_RDWR)


#: The current thread's request (set by ``AirflowApi._send``'s worker for the length of one request).
_current = threading.local()


def _watch(sock: socket.socket | None) -> None:
    inflight: _Inflight | None = getattr(_current, "inflight", None)
    if inflight is not None and sock is not None:
        inflight.watch(sock)


class _Watched:
    """Mixin for urllib3 connections: hand each socket to the sending thread's ``_Inflight``."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        _watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)  # a kept-alive connection from the pool (a new one is watched as it connects)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter whose connections, direct or through an HTTP proxy, are watched."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # a SOCKS proxy's pools are its own (not watched)
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def _session() -> requests.Session:
    session = requests.Session()
    session.mount("http://", _WatchedAdapter())
    session.mount("https://", _WatchedAdapter())
    return session


@dataclass(frozen=True)
class Answer:
    """An HTTP answer read in full, within the client's deadline and body cap."""

    status_code: int
    content_type: str
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass
class AirflowApi:
    base_url: str
    username: str | None = None
    password: str | None = None
    #: the total deadline of one request, seconds: connecting, headers and body together
    timeout: float = 10.0
    max_body_bytes: int = MAX_BODY_BYTES
    #: where the credentials come from, for error messages (the probe CLI reads environment variables)
    credentials_hint: str = "the connection's login/password"
    #: where the base URL comes from, for error messages
    url_hint: str = "the connection's host/port"
    _token: str | None = field(default=None, repr=False)
    _session: requests.Session = field(default_factory=_session, repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")

    def _send(self, method: str, path: str, **kwargs: Any) -> Answer:
        """One request with a total deadline (``timeout``) and a body cap (``max_body_bytes``).

        ``requests``' own timeout bounds each socket read, so a server sending a byte a second would
        hold it for ever. The request runs in a worker thread; when the deadline passes, the caller
        shuts the sockets the worker is using (``_Inflight``), so its blocked read fails at once and the
        thread ends instead of waiting on the server. Not interruptible: a DNS look-up (the thread ends
        when it does: the socket it then connects is shut as it is watched) and a SOCKS proxy's sockets.
        """
        url = self._url(path)
        deadline = time.monotonic() + self.timeout
        out: dict[str, Any] = {}
        inflight = _Inflight()

        def work() -> None:
            _current.inflight = inflight
            try:
                # Connecting and each read are bounded by what is left of the deadline too.
                left = max(deadline - time.monotonic(), 0.001)
                resp = self._session.request(method, url, timeout=left, stream=True, **kwargs)
                out["resp"] = resp
                body = bytearray()
                for chunk in resp.iter_content(65536):
                    body += chunk
                    if len(body) > self.max_body_bytes:
                        raise ApiError(
                            f"{method} {url} answered more than {self.max_body_bytes >> 20} MiB: "
                            f"is {self.url_hint} the api-server?"
                        )
                    if time.monotonic() > deadline:
                        raise TimeoutError
                content_type = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
                out["answer"] = Answer(resp.status_code, content_type or "(no content type)", bytes(body))
            except BaseException as exc:  # handed to the caller's thread
                out["error"] = exc
            finally:
                _current.inflight = None
                if "resp" in out:
                    out["resp"].close()
                inflight.release()

        worker = threading.Thread(target=work, name=f"airflow-api {method} {path}", daemon=True)
        worker.start()
        worker.join(max(deadline - time.monotonic(), 0) + 0.05)
        late = worker.is_alive()
        if late:
            inflight.cancel()
            worker.join(WIND_DOWN_S)
        error = out.get("error")
        if late or isinstance(error, TimeoutError | requests.Timeout):
            raise ApiUnreachableError(
                f"api-server {self.base_url} gave no complete answer to {method} {path} within "
                f"{self.timeout:g}s (the total deadline): is it overloaded, or is {self.url_hint} "
                "another service?"
            )
        if isinstance(error, requests.RequestException):
            raise ApiUnreachableError(
                f"api-server {self.base_url} unreachable ({method} {path}): {error.__class__.__name__}"
            ) from None
        if error is not None:
            raise error
        answer: Answer = out["answer"]
        return answer

    @classmethod
    def from_connection(cls, conn: Any, timeout: float = 10.0) -> AirflowApi:
        from airflow_ops.connections import http_url

        return cls(http_url(conn), conn.login, conn.password, timeout)

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def token(self) -> str:
        if self._token is None:
            if not self.username:
                raise ApiError(
                    f"{self.base_url}: no username configured for JWT auth: set {self.credentials_hint}"
                )
            resp = self._send(
                "POST", "/auth/token", json={"username": self.username, "password": self.password or ""}
            )
            if resp.status_code >= 400:
                if not self._is_json(resp):
                    raise self._not_json(resp, "/auth/token")
                raise ApiError(
                    f"POST {self.base_url}/auth/token answered {resp.status_code}: check "
                    f"{self.credentials_hint} and that [api_auth] jwt_secret is identical on every component"
                )
            body = self._json(resp, "/auth/token")
            if not isinstance(body, dict) or not body.get("access_token"):
                raise ApiError(
                    f"{self._url('/auth/token')} answered HTTP {resp.status_code} without an access_token: "
                    f"is {self.url_hint} the api-server?"
                )
            self._token = str(body["access_token"])
        return self._token

    def _is_json(self, resp: Answer) -> bool:
        return "json" in resp.content_type

    def _not_json(self, resp: Answer, path: str) -> ApiError:
        return ApiError(
            f"{self._url(path)} answered HTTP {resp.status_code} {resp.content_type}, not JSON: "
            f"is {self.url_hint} the api-server?"
        )

    def _json(self, resp: Answer, path: str) -> Any:
        """The decoded body; an HTML page (a proxy, another service, the UI) is an error naming the URL."""
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            raise self._not_json(resp, path) from None

    def request(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        resp = self._send(method, path, headers=headers, **kwargs)
        if resp.status_code >= 400:
            if not self._is_json(resp):
                raise self._not_json(resp, path)
            raise ApiError(f"{method} {path} answered {resp.status_code}: {_one_line(resp.text)}")
        return self._json(resp, path)

    def get(self, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        return self.request("GET", path, auth=auth, **kwargs)

    def health(self) -> dict[str, Any]:
        """``/api/v2/monitor/health``: always 200, the body says what is healthy."""
        path = "/api/v2/monitor/health"
        body = self.get(path, auth=False)
        if not isinstance(body, dict) or not isinstance(body.get("metadatabase"), dict):
            raise ApiError(
                f"{self._url(path)} answered JSON without a 'metadatabase' section "
                f"({_one_line(repr(body), 80)}): is {self.url_hint} the api-server?"
            )
        return dict(body)

    def import_error_count(self) -> int:
        return int(self.get("/api/v2/importErrors", params={"limit": 1})["total_entries"])

    def import_errors(self, limit: int = 1000) -> tuple[int, list[dict[str, Any]]]:
        """(total count, the first ``limit`` import errors: ``filename``, ``bundle_name``, ...)."""
        body = self.get("/api/v2/importErrors", params={"limit": limit})
        return int(body["total_entries"]), list(body["import_errors"])

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
