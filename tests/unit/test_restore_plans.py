"""Issue 19: the restore commands name what they will replace before they do, and redact what they print.

Pure logic and the CLIs against temp dirs and fakes: no database, no S3, no Airflow.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from airflow_ops.export.model import ConnectionEntry, Snapshot, VariableEntry
from airflow_ops.export.restore import RestoreError, run_import


def _fake_airflow(tmp_path: Path, stderr: str) -> str:
    script = tmp_path / "airflow"
    script.write_text(f"#!/bin/sh\necho '{stderr}' >&2\nexit 1\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_a_failed_import_names_no_url_password_and_no_imported_secret(tmp_path: Path) -> None:
    """export/restore uses the one redactor: the URL password and the entries' secrets are masked."""
    url = "postgresql://u:TARGETPW@h/db"
    subset = Snapshot(
        variables={"api_token": VariableEntry("var-secret-value")},
        connections={"warehouse": ConnectionEntry("postgres", password="conn-secret-pw")},
    )
    bin_ = _fake_airflow(tmp_path, f"cannot import into {url}: var-secret-value conn-secret-pw")
    with pytest.raises(RestoreError) as err:
        run_import(subset, url, None, overwrite=False, airflow_bin=bin_)
    message = str(err.value)
    assert "exited 1" in message
    for secret in ("TARGETPW", "var-secret-value", "conn-secret-pw"):
        assert secret not in message
    assert "postgresql://u:***@h/db" in message
    assert os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") != url  # the env of the child only
