"""Read every DB-stored Variable and Connection from an Airflow metadata DB, decrypted.

Uses psycopg2 on the ``variable`` and ``connection`` tables and the Airflow fernet key(s)
(comma-separated, like ``[core] fernet_key``). Values never reach a log or an exception text.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from airflow_ops.connections import DatabaseConnectError, PostgresTarget
from airflow_ops.exceptions import AirflowOpsError
from airflow_ops.export.model import ConnectionEntry, Snapshot, VariableEntry

_VARIABLES_SQL = "SELECT key, val, description, is_encrypted FROM variable ORDER BY key"
_CONNECTIONS_SQL = (
    "SELECT conn_id, conn_type, description, host, schema, login, password, port, extra,"
    " is_encrypted, is_extra_encrypted FROM connection ORDER BY conn_id"
)
_TEAM_SQL = (
    "SELECT (SELECT count(*) FROM variable WHERE team_name IS NOT NULL),"
    " (SELECT count(*) FROM connection WHERE team_name IS NOT NULL)"
)


class ExportReadError(AirflowOpsError):
    pass


class FernetDecryptor:
    """Decrypts what Airflow stored with ``[core] fernet_key`` (MultiFernet, comma-separated)."""

    def __init__(self, fernet_key: str | None) -> None:
        keys = [k.strip() for k in (fernet_key or "").split(",") if k.strip()]
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None
        except ValueError:
            raise ExportReadError(
                "the Airflow fernet key is malformed (expected url-safe base64 of 32 bytes, comma-separated "
                "for rotation); check [core] fernet_key or the fernet key connection"
            ) from None

    def __repr__(self) -> str:
        return f"FernetDecryptor(configured={self._fernet is not None})"

    def decrypt(self, token: str, what: str) -> str:
        if self._fernet is None:
            raise ExportReadError(
                f"{what} is encrypted in the metadata DB but no Airflow fernet key is available: set "
                "[core] fernet_key on the worker or fernet_key_conn_id in the config"
            )
        try:
            return self._fernet.decrypt(token.encode("utf-8")).decode("utf-8")
        except InvalidToken:
            raise ExportReadError(
                f"{what} cannot be decrypted with the Airflow fernet key given: it must be the same "
                "[core] fernet_key the api-server/scheduler use (all keys, during a rotation)"
            ) from None


def _maybe(dec: FernetDecryptor, value: str | None, encrypted: bool, what: str) -> str | None:
    if value is None or not encrypted:
        return value
    return dec.decrypt(value, what)


def read_snapshot(
    target: PostgresTarget, fernet_key: str | None, conn_id: str = "airflow_metadata_db"
) -> Snapshot:
    import psycopg2

    dec = FernetDecryptor(fernet_key)
    try:
        conn = target.connect(application_name="airflow-ops-config-export")
    except DatabaseConnectError as exc:
        first = exc.reason
        raise ExportReadError(
            f"cannot reach the metadata DB {target!r} (connection {conn_id!r}): {first}"
        ) from None
    snap = Snapshot()
    try:
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            # One snapshot for both tables: repeatable read inside a read-only transaction.
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute(_VARIABLES_SQL)
            for key, val, description, is_enc in cur.fetchall():
                value = _maybe(dec, val, bool(is_enc), f"variable {key!r}")
                if value is None:
                    snap.warnings.append(
                        f"variable {key!r} has a NULL value; it imports as the string 'null'"
                    )
                    value = "null"
                snap.variables[key] = VariableEntry(value, description)
            cur.execute(_CONNECTIONS_SQL)
            for row in cur.fetchall():
                cid, ctype, desc, host, schema, login, pwd, port, extra, p_enc, e_enc = row
                snap.connections[cid] = ConnectionEntry(
                    conn_type=ctype,
                    description=desc,
                    host=host,
                    schema=schema,
                    login=login,
                    password=_maybe(dec, pwd, bool(p_enc), f"password of connection {cid!r}"),
                    port=port,
                    extra=_maybe(dec, extra, bool(e_enc), f"extra of connection {cid!r}"),
                )
            _note_teams(cur, snap)
    except psycopg2.Error as exc:
        raise ExportReadError(
            f"reading variable/connection tables through {conn_id!r} failed ({type(exc).__name__}, "
            f"SQLSTATE {exc.pgcode}); the role needs SELECT on variable and connection"
        ) from None
    finally:
        conn.close()
    return snap


def _note_teams(cur: Any, snap: Snapshot) -> None:
    import psycopg2

    cur.execute("SAVEPOINT teams")
    try:
        cur.execute(_TEAM_SQL)
        n_var, n_conn = cur.fetchone()
    except psycopg2.Error:
        cur.execute("ROLLBACK TO SAVEPOINT teams")
        return
    if n_var or n_conn:
        snap.warnings.append(
            f"{n_var} variable(s) and {n_conn} connection(s) belong to a team; the import formats have no "
            "team field, so restore assigns none"
        )
