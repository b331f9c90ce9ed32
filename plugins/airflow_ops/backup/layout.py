"""Where a backup's objects live in the bucket.

One folder per logical date: ``<prefix>/<YYYY-MM-DDTHHMMSSZ>/`` holding ``metadata.dump``
(pg_dump custom format), ``manifest.json``, ``verified.json`` (written only after verification),
``airflow.cfg.redacted``, ``packages.txt`` and, while pinned, ``pinned.json``. Re-running a logical
date rewrites its own folder.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

DUMP_NAME = "metadata.dump"
MANIFEST_NAME = "manifest.json"
VERIFIED_NAME = "verified.json"
CFG_NAME = "airflow.cfg.redacted"
PACKAGES_NAME = "packages.txt"
#: Present while the backup is pinned (kept by retention until unpinned): :mod:`airflow_ops.backup.pins`.
PINNED_NAME = "pinned.json"
_STAMP_FMT = "%Y-%m-%dT%H%M%SZ"
_STAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{6}Z$")


def stamp(when: dt.datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("backup dates must be timezone-aware")
    return when.astimezone(dt.UTC).strftime(_STAMP_FMT)


def parse_stamp(text: str) -> dt.datetime | None:
    if not _STAMP_RE.match(text):
        return None
    return dt.datetime.strptime(text, _STAMP_FMT).replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class BackupLocation:
    """The folder of one backup."""

    bucket: str
    prefix: str
    when: dt.datetime

    @property
    def folder(self) -> str:
        return f"{self.prefix.strip('/')}/{stamp(self.when)}"

    def key(self, name: str) -> str:
        return f"{self.folder}/{name}"

    @property
    def dump_key(self) -> str:
        return self.key(DUMP_NAME)

    @property
    def manifest_key(self) -> str:
        return self.key(MANIFEST_NAME)

    @property
    def verified_key(self) -> str:
        return self.key(VERIFIED_NAME)

    def url(self, name: str = DUMP_NAME) -> str:
        return f"s3://{self.bucket}/{self.key(name)}"
