"""Files saved next to each dump: the redacted Airflow config, the package list, the fernet key.

The fernet key never goes into the dump's folder: it is written to its own location (another
bucket, or AWS Secrets Manager) and only its fingerprint appears in reports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

REDACTED = "<redacted>"
_SENSITIVE = re.compile(
    r"(_cmd$|_secret$|pass(word|wd)?|secret|token|fernet|private|credential|api_?key|access_?key|sql_alchemy_conn|"
    r"conn(ection)?_?(uri|url|string)?$|broker_url|result_backend|dsn|jwt_secret|jwt_private|_key$)",
    re.IGNORECASE,
)


def is_sensitive(key: str) -> bool:
    return bool(_SENSITIVE.search(key))


def redact_config(sections: Mapping[str, Mapping[str, Any]], sensitive: set[tuple[str, str]]) -> str:
    """Render ``sections`` as INI text with secrets replaced by ``<redacted>``.

    A value is redacted whole when Airflow flags ``(section, key)`` as sensitive or when the key name
    looks like a secret. Every other value goes through the one redactor (:func:`airflow_ops.redact.redact`):
    the password of any URL, every registered secret, the values of secret-named environment
    variables, and the values of Airflow's flagged keys wherever else they appear are masked too.
    """
    from airflow_ops.redact import MIN_ENV_SECRET_LENGTH, redact

    def text_of(value: Any) -> str:
        return "" if value is None else str(value[0] if isinstance(value, tuple) else value)

    flagged = [
        text_of(keys[key])
        for section, keys in sections.items()
        for key in keys
        if (section.lower(), key.lower()) in sensitive and len(text_of(keys[key])) >= MIN_ENV_SECRET_LENGTH
    ]
    lines = ["# airflow.cfg as rendered on the worker; secret values redacted by airflow-ops"]
    for section in sorted(sections):
        lines.append(f"\n[{section}]")
        for key in sorted(sections[section]):
            text = text_of(sections[section][key])
            if text and ((section.lower(), key.lower()) in sensitive or is_sensitive(key)):
                text = REDACTED
            lines.append(f"{key} = {redact(text, flagged, mask=REDACTED)}")
    return "\n".join(lines) + "\n"


def merged_config(cfg_path: str, environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Sections of the cfg file at ``cfg_path`` with ``AIRFLOW__SECTION__KEY`` variables on top."""
    import configparser
    import os

    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    if os.path.exists(cfg_path):
        parser.read(cfg_path, encoding="utf-8")
    sections: dict[str, dict[str, str]] = {s: dict(parser.items(s)) for s in parser.sections()}
    for name, value in environ.items():
        parts = name.split("__")
        if len(parts) == 3 and parts[0] == "AIRFLOW" and parts[1] and parts[2]:
            sections.setdefault(parts[1].lower(), {})[parts[2].lower()] = value
    return sections


def package_list() -> str:
    """``pip freeze``-style list of the distributions installed in this interpreter."""
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            seen.setdefault(name.lower(), f"{name}=={dist.version}")
    return "\n".join(seen[k] for k in sorted(seen)) + "\n"


def fingerprint(secret: str) -> str:
    """A short, non-reversible id of a key, safe to show in reports."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FernetStatus:
    stored: bool
    location: str
    fingerprint: str
    warning: str | None = None

    def as_text(self) -> str:
        if self.stored:
            return f"saved to {self.location} ({self.fingerprint})"
        return f"NOT saved: {self.warning}"


def save_fernet_key_s3(
    client: Any, fernet_key: str, bucket: str, key: str, kms_key_id: str | None
) -> FernetStatus:
    body = json.dumps(
        {"fernet_key": fernet_key, "fingerprint": fingerprint(fernet_key), "saved_at": _now()}
    ).encode()
    from airflow_ops.storage import put_confirmed, sse_args

    sse = sse_args("aws:kms", kms_key_id) if kms_key_id else sse_args("AES256")
    put_confirmed(client, bucket, key, body, "application/json", sse)
    return FernetStatus(True, f"s3://{bucket}/{key}", fingerprint(fernet_key))


def save_fernet_key_secretsmanager(client: Any, fernet_key: str, secret_id: str) -> FernetStatus:
    payload = json.dumps({"fernet_key": fernet_key, "saved_at": _now()})
    try:
        client.put_secret_value(SecretId=secret_id, SecretString=payload)
    except client.exceptions.ResourceNotFoundException:
        client.create_secret(Name=secret_id, SecretString=payload)
    return FernetStatus(True, f"secretsmanager:{secret_id}", fingerprint(fernet_key))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
