#!/usr/bin/env python3
"""Create the compose trial's secrets once, into the airflow-secrets volume (service `airflow-secrets`).

For each secret: a non-empty value in the environment (from `.env`) wins and is written to its file;
otherwise an existing file is kept; otherwise a fresh random value is generated. Nothing is printed but
the names and where each came from. The components read the files, never an environment variable:

  airflow.cfg   fernet_key_cmd, secret_key_cmd, jwt_secret_cmd, sql_alchemy_conn_cmd,
                result_backend_cmd = cat /opt/airflow/secrets/<file>  (rendered by airflow-init)
  connections   connections.json, read by Airflow's LocalFilesystemBackend ([secrets] backend):
                airflow_metadata_db, airflow_ops_api, aws_default, ops_export_key
  postgres      POSTGRES_PASSWORD_FILE;  minio: MINIO_ROOT_PASSWORD_FILE;  admin: admin_password

Rotate one: set it in .env (or delete its file from the volume) and `docker compose up -d --force-recreate`.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

DIR = Path(os.environ.get("AIRFLOW_OPS_SECRETS_DIR", "/opt/airflow/secrets"))


def _fernet() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _token() -> str:
    return secrets.token_urlsafe(48)


def _password() -> str:
    return secrets.token_urlsafe(24)


#: file name -> (environment variable that overrides it, generator)
SECRETS: dict[str, tuple[str, Callable[[], str]]] = {
    "postgres_password": ("POSTGRES_PASSWORD", _password),
    "fernet_key": ("AIRFLOW_OPS_FERNET_KEY", _fernet),
    "api_secret_key": ("AIRFLOW_OPS_API_SECRET_KEY", _token),
    "jwt_secret": ("AIRFLOW_OPS_JWT_SECRET", _token),
    "admin_password": ("AIRFLOW_OPS_ADMIN_PASSWORD", _password),
    "bot_password": ("AIRFLOW_OPS_BOT_PASSWORD", _password),
    "minio_root_password": ("MINIO_ROOT_PASSWORD", _password),
    "export_key": ("AIRFLOW_OPS_EXPORT_KEY", _token),
}


def _write(path: Path, text: str, uid: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    if os.geteuid() == 0:  # the service runs as root to own a fresh volume; hand the files to AIRFLOW_UID
        os.chown(tmp, uid, 0)
    os.chmod(tmp, 0o640)
    tmp.replace(path)


def main() -> int:
    uid = int(os.environ.get("AIRFLOW_UID") or 50000)
    DIR.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(DIR, uid, 0)
    DIR.chmod(0o750)
    values: dict[str, str] = {}
    for name, (var, generate) in SECRETS.items():
        path = DIR / name
        given = os.environ.get(var, "").strip()
        current = path.read_text().strip() if path.is_file() else ""
        if given:
            value, origin = given, f"from {var}"
        elif current:
            value, origin = current, "kept"
        else:
            value, origin = generate(), "generated"
        if value != current:
            _write(path, value, uid)
        values[name] = value
        print(f"airflow-secrets: {name}: {origin}")
    pg = quote(values["postgres_password"], safe="")
    user = os.environ.get("MINIO_ROOT_USER") or "airflow-ops"
    derived = {
        "sql_alchemy_conn": f"postgresql+psycopg2://airflow:{pg}@postgres:5432/airflow",
        "celery_result_backend": f"db+postgresql://airflow:{pg}@postgres:5432/airflow",
        "connections.json": json.dumps(
            {
                "airflow_metadata_db": f"postgresql://airflow:{pg}@postgres:5432/airflow",
                # The bundle's own least-privilege identity (role user), never the admin.
                "airflow_ops_api": {
                    "conn_type": "http",
                    "host": "airflow-api-server",
                    "port": 8080,
                    "login": "airflow-ops-bot",
                    "password": values["bot_password"],
                },
                # The shipped configs' alert channels, pointed at the trial's alert-sink service.
                "ops_alert_webhook": {"conn_type": "http", "host": "http://alert-sink:8025/alerts"},
                "smtp_default": {
                    "conn_type": "smtp",
                    "host": "alert-sink",
                    "port": 1025,
                    "extra": {
                        "disable_tls": True,
                        "disable_ssl": True,
                        "from_email": "airflow-ops@localhost",
                    },
                },
                "aws_default": {
                    "conn_type": "aws",
                    "login": user,
                    "password": values["minio_root_password"],
                    "extra": {"endpoint_url": "http://minio:9000", "region_name": "us-east-1"},
                },
                "ops_export_key": {"conn_type": "generic", "password": values["export_key"]},
            },
            indent=2,
            sort_keys=True,
        ),
    }
    for name, text in derived.items():
        path = DIR / name
        if not path.is_file() or path.read_text() != text:
            _write(path, text, uid)
    print(f"airflow-secrets: {len(SECRETS)} secrets and {len(derived)} derived files ready in {DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
