"""One backup, start to finish: the dump and its sidecars (Airflow-free; the task gathers the inputs).

``take_backup`` streams the dump (``backup.dump.run_backup``), then writes the sidecars next to it
and saves the fernet key to its own location. The task module passes plain values: the S3 client,
the request, the redacted config text, the package list and the fernet key with its target.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_ops.backup.dump import BackupRequest, run_backup
from airflow_ops.backup.layout import CFG_NAME, PACKAGES_NAME
from airflow_ops.backup.s3io import put_bytes
from airflow_ops.backup.sidecars import (
    FernetStatus,
    fingerprint,
    save_fernet_key_s3,
    save_fernet_key_secretsmanager,
)
from airflow_ops.storage import sse_args


@dataclass(frozen=True)
class FernetTarget:
    """Where the fernet key goes: ``type`` s3 (bucket, key, kms_key_id) or secretsmanager (secret_id)."""

    type: str
    client: Any
    bucket: str | None = None
    key: str = ""
    kms_key_id: str | None = None
    secret_id: str | None = None


def save_fernet_key(key: str, target: FernetTarget | None) -> FernetStatus:
    if not key:
        return FernetStatus(False, "", "", "no [core] fernet_key is set on the worker: nothing to back up")
    if target is None:
        return FernetStatus(
            False,
            "",
            fingerprint(key),
            f"not backed up (fernet_key_backup is unset): without the fernet key ({fingerprint(key)}) the "
            "connections and variables of a restored DB cannot be decrypted",
        )
    if target.type == "s3":
        assert target.bucket is not None
        return save_fernet_key_s3(target.client, key, target.bucket, target.key, target.kms_key_id)
    assert target.secret_id is not None
    return save_fernet_key_secretsmanager(target.client, key, target.secret_id)


def take_backup(
    client: Any,
    request: BackupRequest,
    *,
    cleanup_client: Callable[[], Any],
    airflow_cfg: str | None,
    packages: str | None,
    fernet_key: str,
    fernet_target: FernetTarget | None,
) -> dict[str, Any]:
    """Dump, upload and confirm; then the sidecars (``None`` skips one) and the fernet key."""
    manifest = run_backup(client, request, cleanup_client=cleanup_client)
    loc = request.location
    sse = sse_args(request.sse, request.kms_key_id)
    sidecars: list[str] = []
    for name, text in ((CFG_NAME, airflow_cfg), (PACKAGES_NAME, packages)):
        if text is not None:
            put_bytes(client, loc.bucket, loc.key(name), text.encode(), "text/plain", sse)
            sidecars.append(name)
    fernet = save_fernet_key(fernet_key, fernet_target)
    return {
        "manifest": dataclasses.asdict(manifest),
        "folder": loc.folder,
        "sidecars": sidecars,
        "fernet": dataclasses.asdict(fernet),
    }
