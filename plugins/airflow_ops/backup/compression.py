"""How pg_dump compresses the custom-format archive: one setting, ``method[:level]``.

- ``gzip[:0-9]``: every pg_dump; ``gzip:1`` is the bundle's default. On a 374 MB database of the
  bench's row shape, pg_dump 15's default (gzip level 6) took 6.9 s for 141 MB and level 1 took
  2.7 s for 146 MB: 2.6x faster for 3.6% more bytes, and the dump's snapshot is held that much
  shorter. The current figures are ``backup_*`` in ``bench/RESULTS.md``.
- ``lz4[:1-12]`` and ``zstd[:1-22]``: pg_dump and pg_restore 16 or newer.
- ``none``: no compression (``--compress=0``), the I/O-bound limit.

Every choice stays a plain custom-format archive that ``pg_restore`` reads with no other tool;
lz4 and zstd need a pg_restore of 16 or newer, which :func:`restore_major` asks for.
"""

from __future__ import annotations

import re

from airflow_ops.backup.errors import PgToolVersionError

DEFAULT = "gzip:1"
PATTERN = r"^(none|gzip(:[0-9])?|lz4(:([1-9]|1[0-2]))?|zstd(:([1-9]|1[0-9]|2[0-2]))?)$"
_PATTERN = re.compile(PATTERN)
#: the first pg_dump / pg_restore major that knows these methods
NEEDS_16 = ("lz4", "zstd")


def method(compression: str | None) -> str:
    return (compression or "gzip").split(":", 1)[0]


def check(compression: str) -> str:
    if not _PATTERN.match(compression):
        raise ValueError(
            f"compression {compression!r} is not one of none, gzip[:0-9], lz4[:1-12], zstd[:1-22]"
        )
    return compression


def pg_dump_flag(compression: str | None, pg_dump_major: int, pg_dump_version: str) -> list[str]:
    """pg_dump's ``--compress`` argument for ``compression`` (none: pg_dump's own default)."""
    if compression is None:
        return []
    check(compression)
    name, _, level = compression.partition(":")
    if name == "none":
        return ["--compress=0"]
    if name == "gzip":
        return [f"--compress={level or 6}"]  # an integer means gzip on every pg_dump
    if pg_dump_major < 16:
        raise PgToolVersionError(
            f"compression {compression} needs pg_dump 16 or newer, but the pg_dump found is "
            f"{pg_dump_version}. Fix: install postgresql-client-16 (or newer) on the workers, "
            f"or set compression: {DEFAULT}"
        )
    return [f"--compress={compression}"]


def restore_major(server_major: int, compression: str | None) -> int:
    """The oldest pg_restore major that can read an archive of this server and compression."""
    return max(server_major, 16) if method(compression) in NEEDS_16 else server_major
