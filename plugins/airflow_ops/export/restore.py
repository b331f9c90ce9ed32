"""Restore a config export into a target Airflow: decrypt, plan, import, read back (domain code).

The object is decrypted and authenticated in full before anything touches the target. The import
goes through ``airflow variables import`` / ``airflow connections import`` with the target's URL
passed explicitly in the subprocess environment; secrets never reach argv or the log.
The command line is ``airflow-ops restore-export`` (``airflow_ops_tools.restore_export``).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_ops.exceptions import AirflowOpsError
from airflow_ops.export.crypto import ExportKey, open_sealed
from airflow_ops.export.model import Snapshot
from airflow_ops.redact import redact


class RestoreError(AirflowOpsError):
    pass


@dataclass
class Plan:
    """Per kind: names new to the target, differing, identical, and present only in the target."""

    new: dict[str, list[str]] = field(default_factory=lambda: {"variables": [], "connections": []})
    changed: dict[str, list[str]] = field(default_factory=lambda: {"variables": [], "connections": []})
    same: dict[str, list[str]] = field(default_factory=lambda: {"variables": [], "connections": []})
    only_target: dict[str, list[str]] = field(default_factory=lambda: {"variables": [], "connections": []})


def plan_restore(export: Snapshot, target: Snapshot) -> Plan:
    plan = Plan()
    for kind in ("variables", "connections"):
        src: dict[str, Any] = getattr(export, kind)
        dst: dict[str, Any] = getattr(target, kind)
        for name in sorted(src):
            if name not in dst:
                plan.new[kind].append(name)
            elif src[name] != dst[name]:
                plan.changed[kind].append(name)
            else:
                plan.same[kind].append(name)
        plan.only_target[kind] = sorted(set(dst) - set(src))
    return plan


def decrypt_export(blob: bytes, key: ExportKey, allow_plaintext: bool) -> tuple[Snapshot, dict[str, Any]]:
    payload = open_sealed(blob, key, allow_plaintext=allow_plaintext)
    try:
        return Snapshot.from_payload(payload)
    except (ValueError, KeyError) as exc:
        raise RestoreError(f"the decrypted export is not a config export payload: {exc}") from None


def _secrets_of(snap: Snapshot) -> list[str]:
    out = [v.value for v in snap.variables.values()]
    for c in snap.connections.values():
        out += [x for x in (c.password, c.extra, c.login) if x]
    return [s for s in out if len(s) >= 4]


def run_import(subset: Snapshot, url: str, fernet_key: str | None, overwrite: bool, airflow_bin: str) -> None:
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url}
    if fernet_key is not None:
        env["AIRFLOW__CORE__FERNET_KEY"] = fernet_key
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    secrets = _secrets_of(subset)
    with tempfile.TemporaryDirectory(prefix="airflow-ops-restore-") as tmp:
        os.chmod(tmp, 0o700)
        cmds = []
        if subset.variables:
            path = Path(tmp) / "variables.json"
            path.write_text(json.dumps(subset.variables_document(), ensure_ascii=False), encoding="utf-8")
            cmds.append(
                [
                    airflow_bin,
                    "variables",
                    "import",
                    str(path),
                    "--action-on-existing-key",
                    "overwrite" if overwrite else "fail",
                ]
            )
        if subset.connections:
            path = Path(tmp) / "connections.json"
            path.write_text(json.dumps(subset.connections_document(), ensure_ascii=False), encoding="utf-8")
            cmds.append(
                [airflow_bin, "connections", "import", str(path), *(["--overwrite"] if overwrite else [])]
            )
        for cmd in cmds:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, check=False)
            if proc.returncode != 0:
                tail = redact((proc.stderr or proc.stdout).strip(), secrets).splitlines()[-5:]
                raise RestoreError(f"`airflow {cmd[1]} import` exited {proc.returncode}: " + " | ".join(tail))
