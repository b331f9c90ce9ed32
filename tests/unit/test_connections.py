"""Connection helpers: clear errors for missing connections, secrets kept out of repr and argv."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_ops.connections import PostgresTarget, get_connection, http_url
from airflow_ops.exceptions import MissingConnectionError


def test_missing_connection_names_id_and_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import Connection

    from airflow_ops.compat import not_found_exception

    AirflowNotFoundException = not_found_exception()

    def not_found(conn_id: str) -> None:
        raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")

    monkeypatch.setattr(Connection, "get", staticmethod(not_found))
    with pytest.raises(MissingConnectionError) as info:
        get_connection("airflow_metadata_db", "metadata DB for the backup", kind="postgres")
    message = str(info.value)
    assert "'airflow_metadata_db'" in message
    assert "AIRFLOW_CONN_AIRFLOW_METADATA_DB=" in message
    assert "airflow connections add airflow_metadata_db" in message
    assert "metadata DB for the backup" in message


def test_postgres_target_keeps_password_out_of_repr_and_into_pgpassword() -> None:
    target = PostgresTarget("db", 5432, "ops", "airflow", password="s3cr3t")
    assert "s3cr3t" not in repr(target)
    assert target.libpq_env()["PGPASSWORD"] == "s3cr3t"
    assert target.sqlalchemy_url() == "postgresql+psycopg2://ops:s3cr3t@db:5432/airflow"


def test_password_with_special_characters_is_url_quoted() -> None:
    target = PostgresTarget("db", 5432, "ops", "airflow", password="p@ss:/wörd")
    assert "p%40ss%3A%2Fw%C3%B6rd" in target.sqlalchemy_url()


@pytest.mark.parametrize(
    ("conn", "url"),
    [
        pytest.param(
            SimpleNamespace(host="https://hooks.example/x", schema=None, conn_type="http", port=None),
            "https://hooks.example/x",
            id="full-url-in-host",
        ),
        pytest.param(
            SimpleNamespace(host="api", schema="https", conn_type="http", port=8443),
            "https://api:8443",
            id="host-port-schema",
        ),
        pytest.param(
            SimpleNamespace(host="api", schema="airflow", conn_type="http", port=8080),
            "http://api:8080",
            id="non-http-schema-falls-back",
        ),
    ],
)
def test_http_url(conn: SimpleNamespace, url: str) -> None:
    assert http_url(conn) == url


def test_missing_aws_connection_is_an_error_not_anonymous_access(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import Connection

    from airflow_ops.compat import not_found_exception

    AirflowNotFoundException = not_found_exception()

    from airflow_ops.connections import s3_client

    def not_found(conn_id: str) -> None:
        raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")

    monkeypatch.setattr(Connection, "get", staticmethod(not_found))
    with pytest.raises(MissingConnectionError, match="AIRFLOW_CONN_OPS_S3="):
        s3_client("ops_s3")
