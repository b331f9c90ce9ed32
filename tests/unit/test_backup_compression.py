"""pg_dump's compression setting: what each value passes to pg_dump, which pg_restore it needs, and
how the config spells it (``compression``, or the former ``compress_level``)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from airflow_ops.backup import compression
from airflow_ops.backup.errors import PgToolVersionError
from airflow_ops.backup.manifest import BackupManifest
from airflow_ops.kinds.metadata_backup.schema import MetadataBackupConfig


@pytest.mark.parametrize(
    ("value", "major", "flag"),
    [
        (None, 15, []),
        ("none", 15, ["--compress=0"]),
        ("gzip", 15, ["--compress=6"]),
        ("gzip:1", 15, ["--compress=1"]),
        ("gzip:9", 16, ["--compress=9"]),
        ("zstd", 16, ["--compress=zstd"]),
        ("zstd:3", 17, ["--compress=zstd:3"]),
        ("lz4:12", 16, ["--compress=lz4:12"]),
    ],
)
def test_the_pg_dump_flag(value: str | None, major: int, flag: list[str]) -> None:
    assert compression.pg_dump_flag(value, major, f"{major}.1") == flag


@pytest.mark.parametrize("value", ["zstd", "zstd:3", "lz4", "lz4:1"])
def test_lz4_and_zstd_on_an_older_pg_dump_are_refused_naming_the_fix(value: str) -> None:
    with pytest.raises(
        PgToolVersionError, match=r"needs pg_dump 16 or newer, but the pg_dump found is 15\.20"
    ):
        compression.pg_dump_flag(value, 15, "15.20")


@pytest.mark.parametrize(
    "bad", ["gzip:10", "gzip:-1", "zstd:0", "zstd:23", "lz4:13", "brotli", "GZIP", "gzip:", ""]
)
def test_values_pg_dump_does_not_take_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="is not one of"):
        compression.check(bad)


@pytest.mark.parametrize(
    ("server", "value", "needs"),
    [
        (15, None, 15),
        (15, "gzip:1", 15),
        (15, "none", 15),
        (14, "zstd:3", 16),
        (15, "lz4", 16),
        (17, "zstd", 17),
    ],
)
def test_the_pg_restore_an_archive_needs(server: int, value: str | None, needs: int) -> None:
    assert compression.restore_major(server, value) == needs


def _manifest(server_version: str, value: str | None) -> BackupManifest:
    return BackupManifest(
        "d", "2026-11-01", "b", "k", 1, "s", 1, server_version, "15", "3.3.2", None, {}, "", "", 1.0,
        compression=value,
    )  # fmt: skip


def test_the_manifest_names_the_pg_restore_it_needs() -> None:
    assert _manifest("15.20", "gzip:1").pg_restore_major == 15
    assert _manifest("15.20", "zstd:3").pg_restore_major == 16
    assert BackupManifest.from_json(_manifest("16.1", "lz4").to_json()).compression == "lz4"


BASE = {"kind": "metadata_backup", "dag_id": "ops_metadata_backup"}


def test_the_config_default_is_gzip_level_1() -> None:
    assert MetadataBackupConfig(**BASE).compression == compression.DEFAULT == "gzip:1"


@pytest.mark.parametrize(("level", "value"), [(0, "none"), (1, "gzip:1"), (6, "gzip:6"), (9, "gzip:9")])
def test_the_former_compress_level_still_means_gzip_at_that_level(level: int, value: str) -> None:
    assert MetadataBackupConfig(**BASE, compress_level=level).compression == value


def test_compression_and_compress_level_together_are_refused() -> None:
    with pytest.raises(ValidationError, match="not both"):
        MetadataBackupConfig(**BASE, compression="gzip:1", compress_level=6)


@pytest.mark.parametrize("bad", ["gzip:10", "brotli", "zstd:99"])
def test_the_config_refuses_what_pg_dump_would(bad: str) -> None:
    with pytest.raises(ValidationError, match="compression"):
        MetadataBackupConfig(**BASE, compression=bad)
