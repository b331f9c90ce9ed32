"""Resolve Airflow connections at run time, with errors that say how to create a missing one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow_ops.exceptions import AirflowOpsError, MissingConnectionError

_EXAMPLES = {
    "postgres": "postgresql://airflow_ops_backup:PASSWORD@db-host:5432/airflow",
    # A webhook's URL is its secret: the whole URL goes in the host, no login or password.
    "http": '{"conn_type": "http", "host": "https://hooks.example.com/services/T000/B000/XXXX"}',
    "webhook": '{"conn_type": "http", "host": "https://hooks.example.com/services/T000/B000/XXXX"}',
    # The bundle's own least-privilege API identity (role `user`), never the admin login.
    "api": "http://airflow-ops-bot:PASSWORD@airflow-api-server:8080",
    "aws": "aws://?region_name=eu-west-1",
    "smtp": "smtp://user:PASSWORD@smtp-host:587",
}


def get_connection(conn_id: str, purpose: str, kind: str = "http") -> Any:
    """Return the Task SDK connection ``conn_id`` or raise :class:`MissingConnectionError`."""
    from airflow.sdk import Connection

    from airflow_ops.compat import not_found_exception

    AirflowNotFoundException = not_found_exception()

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        raise MissingConnectionError(conn_id, purpose, _EXAMPLES.get(kind, "...")) from None


def connection_exists(conn_id: str) -> bool:
    try:
        get_connection(conn_id, "probe")
    except MissingConnectionError:
        return False
    return True


class DatabaseConnectError(AirflowOpsError):
    """PostgreSQL refused or did not answer; ``reason`` is the server's first line (no password in it)."""

    def __init__(self, target: PostgresTarget, reason: str) -> None:
        super().__init__(f"cannot connect to {target!r}: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class PostgresTarget:
    """Where a maintenance task reaches the metadata DB. ``password`` never appears in ``repr``."""

    host: str
    port: int
    user: str
    dbname: str
    password: str | None = None
    sslmode: str | None = None

    def __repr__(self) -> str:
        return f"PostgresTarget({self.user}@{self.host}:{self.port}/{self.dbname})"

    def libpq_env(self) -> dict[str, str]:
        """Environment for pg_dump/pg_restore/psql: the password travels in PGPASSWORD, never argv."""
        env = {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user, "PGDATABASE": self.dbname}
        if self.password:
            env["PGPASSWORD"] = self.password
        if self.sslmode:
            env["PGSSLMODE"] = self.sslmode
        return env

    def sqlalchemy_url(self, driver: str = "postgresql+psycopg2") -> str:
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        url = f"{driver}://{auth}@{self.host}:{self.port}/{quote(self.dbname, safe='')}"
        if self.sslmode:
            url += f"?sslmode={self.sslmode}"
        return url

    def connect(
        self, *, timeout_s: int = 15, autocommit: bool = False, application_name: str = "airflow-ops"
    ) -> Any:
        """The one way the bundle opens a PostgreSQL session: with a connect timeout, the password
        passed as a keyword (never in a URL, argv or log), and errors as :class:`DatabaseConnectError`."""
        import psycopg2

        try:
            conn = psycopg2.connect(
                connect_timeout=timeout_s, application_name=application_name, **self.psycopg2_kwargs()
            )
        except psycopg2.OperationalError as exc:
            text = str(exc).strip()
            raise DatabaseConnectError(self, text.splitlines()[0] if text else type(exc).__name__) from None
        conn.autocommit = autocommit
        return conn

    def psycopg2_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"host": self.host, "port": self.port, "user": self.user, "dbname": self.dbname}
        if self.password:
            kw["password"] = self.password
        if self.sslmode:
            kw["sslmode"] = self.sslmode
        return kw


def postgres_target(conn_id: str, purpose: str = "metadata DB for maintenance tasks") -> PostgresTarget:
    """Build a :class:`PostgresTarget` from a postgres connection."""
    conn = get_connection(conn_id, purpose, kind="postgres")
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    return PostgresTarget(
        host=conn.host or "localhost",
        port=int(conn.port or 5432),
        user=conn.login or "postgres",
        dbname=conn.schema or "airflow",
        password=conn.password or None,
        sslmode=extra.get("sslmode"),
    )


def http_url(conn: Any) -> str:
    """The URL an HTTP connection points at; a host holding a full URL wins."""
    host = conn.host or ""
    if "://" in host:
        return str(host)
    scheme = conn.schema or conn.conn_type or "http"
    if scheme not in ("http", "https"):
        scheme = "http"
    port = f":{conn.port}" if conn.port else ""
    return f"{scheme}://{host}{port}"


def s3_client(aws_conn_id: str, purpose: str = "S3 storage for maintenance artifacts") -> Any:
    """A boto3 S3 client from an aws connection; a missing connection is an error, not anonymous access.

    ``S3Hook`` silently falls back to the default credential chain when the connection does not
    exist, which then fails far from the cause; checking first names the connection and the fix.

    The client's botocore config is the connection's extra ``config_kwargs`` (what ``S3Hook``
    reads itself: ``request_checksum_calculation``, ``response_checksum_validation``, ``retries``,
    ``s3``...) on top of the bundle's retry policy, :data:`airflow_ops.storage.RETRIES`.
    """
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from airflow_ops.storage import client_config

    get_connection(aws_conn_id, purpose, kind="aws")
    hook = S3Hook(aws_conn_id=aws_conn_id)
    return hook.get_client_type(
        region_name=hook.region_name, config=client_config(hook.conn_config.botocore_config)
    )
