"""Which database a backup is of: read from the server itself, so host aliases do not matter.

``{"system_identifier": "<pg_control_system()>", "dbname": "<current_database()>"}``: the cluster's
identifier (unique per ``initdb``, kept by physical replicas) and the database's name in it. The
backup writes it into its manifest and the ``latest-verified`` pointer; the DB cleanup gate reads its
own database's identity and refuses a pointer for another database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def database_identity(cur: Any) -> dict[str, str | None]:
    """The identity of the database ``cur`` is connected to (``system_identifier`` may be None when
    ``pg_control_system()`` is not allowed; the name alone is then compared)."""
    cur.execute("SELECT current_database()")
    dbname = str(cur.fetchone()[0])
    sysid: str | None
    try:
        cur.execute("SAVEPOINT airflow_ops_identity")
        cur.execute("SELECT system_identifier::text FROM pg_control_system()")
        sysid = str(cur.fetchone()[0])
        cur.execute("RELEASE SAVEPOINT airflow_ops_identity")
    except Exception:
        cur.execute("ROLLBACK TO SAVEPOINT airflow_ops_identity")
        sysid = None
    return {"system_identifier": sysid, "dbname": dbname}


def target_identity(target: Any) -> dict[str, str | None]:
    """The identity of the database behind a :class:`~airflow_ops.connections.PostgresTarget`."""
    conn = target.connect(timeout_s=15, application_name="airflow-ops-identity")
    try:
        with conn.cursor() as cur:
            return database_identity(cur)
    finally:
        conn.close()


def describe(identity: Mapping[str, Any] | None) -> str:
    if not identity:
        return "an unidentified database"
    sysid = identity.get("system_identifier")
    return f"database {identity.get('dbname')!r}" + (f" of cluster {sysid}" if sysid else "")


def same_database(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Same name, and same cluster when both sides know their cluster's identifier."""
    if a.get("dbname") != b.get("dbname"):
        return False
    sa, sb = a.get("system_identifier"), b.get("system_identifier")
    return sa is None or sb is None or sa == sb
