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


# -- restore-export: what --overwrite replaces is listed before the import ---------------------------
EXPORT_KEY = "unit-test-export-key-0123456789-abcdef"


def _export_file(tmp_path: Path) -> Path:
    from airflow_ops.export.crypto import ExportKey

    export = Snapshot(
        variables={"same": VariableEntry("1"), "changed": VariableEntry("new"), "fresh": VariableEntry("x")},
        connections={"db": ConnectionEntry("postgres", host="new-host")},
    )
    path = tmp_path / "export.aopscx"
    path.write_bytes(ExportKey(EXPORT_KEY).seal(export.to_payload({"run_id": "r"}), "now"))
    return path


class _Calls:
    def __init__(self) -> None:
        self.imports: list[tuple[list[str], list[str], bool]] = []


@pytest.fixture
def export_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, _Calls]:
    from airflow_ops_tools import restore_export

    target = Snapshot(
        variables={"same": VariableEntry("1"), "changed": VariableEntry("old"), "mine": VariableEntry("t")},
        connections={"db": ConnectionEntry("postgres", host="old-host")},
    )
    calls = _Calls()
    imported: list[Snapshot] = []

    def read_snapshot(*_a: object) -> Snapshot:
        after = Snapshot(variables=dict(target.variables), connections=dict(target.connections))
        for subset in imported:
            after.variables.update(subset.variables)
            after.connections.update(subset.connections)
        return after

    def run_import(subset: Snapshot, _url: str, _fk: object, overwrite: bool, _bin: str) -> None:
        print("<<import runs>>", flush=True)
        calls.imports.append((sorted(subset.variables), sorted(subset.connections), overwrite))
        imported.append(subset)

    monkeypatch.setattr(restore_export, "read_snapshot", read_snapshot)
    monkeypatch.setattr(restore_export, "run_import", run_import)
    monkeypatch.setenv("AIRFLOW_OPS_EXPORT_KEY", EXPORT_KEY)
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2://u@localhost:5432/af")
    return _export_file(tmp_path), calls


def test_restore_export_overwrite_lists_what_it_replaces_before_importing(
    export_cli: tuple[Path, _Calls], capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_ops_tools import restore_export

    path, calls = export_cli
    assert restore_export.main([str(path), "--overwrite"]) == 0
    out = capsys.readouterr().out
    listing = out.index("differ (will REPLACE)")
    assert listing < out.index("<<import runs>>")
    replace_line = next(line for line in out.splitlines() if "differ (will REPLACE)" in line)
    assert "changed" in replace_line
    assert "will import 1 new entries and replace 2 existing entries" in out
    assert out.index("will import 1 new entries") < out.index("<<import runs>>")
    assert calls.imports == [(["changed", "fresh"], ["db"], True)]


def test_restore_export_dry_run_with_overwrite_names_the_replacements_and_imports_nothing(
    export_cli: tuple[Path, _Calls], capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_ops_tools import restore_export

    path, calls = export_cli
    assert restore_export.main([str(path), "--overwrite", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "differ (would REPLACE)" in out
    assert "would import 1 new entries and replace 2 existing entries" in out
    assert "dry run: nothing imported" in out
    assert calls.imports == []


def test_restore_export_without_overwrite_says_what_stays(
    export_cli: tuple[Path, _Calls], capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_ops_tools import restore_export

    path, calls = export_cli
    assert restore_export.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "differ (need --overwrite)" in out and "REPLACE" not in out
    assert "2 differing entries stay as they are" in out
    assert calls.imports == [(["fresh"], [], False)]


# -- restore-backup: the tables --force drops and replaces are listed before pg_restore runs ----------
def _manifest(tables: dict[str, int]) -> object:
    from airflow_ops.backup.manifest import BackupManifest

    return BackupManifest(
        dag_id="d",
        logical_date="2026-11-23",
        bucket="b",
        key="metadata-backup/2026-11-23T000000Z/dump.pgc",
        size_bytes=10,
        sha256="ab" * 32,
        db_size_bytes=100,
        server_version="16.4",
        pg_dump_version="16.4",
        airflow_version="3.1.0",
        alembic_revision="abc",
        table_row_counts=tables,
        started_at="2026-11-23T00:00:00Z",
        finished_at="2026-11-23T00:00:09Z",
        duration_seconds=9.0,
    )


@pytest.fixture
def backup_world(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The domain's I/O replaced by fakes; returns the ordered events ("restore_stream" when it writes)."""
    import datetime as dt

    from airflow_ops.backup import restore as domain
    from airflow_ops.backup.catalog import BackupEntry
    from airflow_ops_tools import restore_backup as cli

    events: list[str] = []
    manifest = _manifest({"public.dag": 3, "public.log": 10, "public.xcom": 1})
    entry = BackupEntry(
        folder="metadata-backup/2026-11-23T000000Z", when=dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    )
    monkeypatch.setattr(domain, "read_manifest", lambda *_a: manifest)
    monkeypatch.setattr(
        domain, "list_user_tables", lambda _t: ["public.dag", "public.log", "public.local_notes"]
    )
    monkeypatch.setattr(domain, "select_tool", lambda *_a: object())
    monkeypatch.setattr(domain, "check_archive", lambda *_a: events.append("check_archive"))

    def restore_stream(*_a: object, clean: bool = False, progress: object = None) -> None:
        print("<<pg_restore runs>>", flush=True)
        events.append(f"restore_stream clean={clean}")

    monkeypatch.setattr(domain, "restore_stream", restore_stream)
    monkeypatch.setattr(domain, "compare_counts", lambda *_a: {})
    monkeypatch.setattr(cli, "s3_client", lambda *_a: object())
    monkeypatch.setattr(cli, "choose_backup", lambda *_a: entry)
    return events


def test_restore_backup_force_lists_the_tables_it_replaces_before_pg_restore(
    backup_world: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_ops_tools import restore_backup as cli

    assert cli.main(["--target-url", "postgresql://u@localhost:5432/restored", "--force"]) == 0
    out = capsys.readouterr().out
    replace = next(line for line in out.splitlines() if line.startswith("replace"))
    assert "will DROP and replace 2 tables" in replace and "public.dag, public.log" in replace
    assert "will create 1 tables: public.xcom" in out
    assert "will leave 1 tables the backup does not hold: public.local_notes" in out
    assert out.index("will DROP and replace") < out.index("<<pg_restore runs>>")
    assert backup_world == ["check_archive", "restore_stream clean=True"]


def test_restore_backup_dry_run_names_the_same_tables_and_writes_nothing(
    backup_world: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_ops_tools import restore_backup as cli

    assert cli.main(["--target-url", "postgresql://u@localhost:5432/restored", "--force", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would DROP and replace 2 tables of the target (--force): public.dag, public.log" in out
    assert "nothing was written" in out
    assert backup_world == ["check_archive"]


def test_restore_backup_refuses_a_non_empty_target_without_force_and_counts_what_it_would_replace(
    backup_world: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_ops_tools import restore_backup as cli

    assert cli.main(["--target-url", "postgresql://u@localhost:5432/restored"]) == 2
    err = capsys.readouterr().err
    assert "3 tables, 2 of them in the backup" in err and "--force --dry-run" in err
    assert len(err.strip().splitlines()) == 1
    assert backup_world == []
