"""The manifest written next to every dump: what was dumped, from what, and its checksum."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

MANIFEST_FORMAT = 1


@dataclass
class BackupManifest:
    dag_id: str
    logical_date: str
    bucket: str
    key: str
    size_bytes: int
    sha256: str
    db_size_bytes: int
    server_version: str
    pg_dump_version: str
    airflow_version: str
    alembic_revision: str | None
    table_row_counts: dict[str, int]
    started_at: str
    finished_at: str
    duration_seconds: float
    sse: str = "none"
    parts_chunk_bytes: int = 0
    format: int = MANIFEST_FORMAT
    #: ``sha256:<16 hex>`` of the fernet key the dumped DB's connections and variables are encrypted
    #: with (``airflow_ops.backup.sidecars.fingerprint``); ``None`` when the worker had none.
    fernet_fingerprint: str | None = None
    #: Which database was dumped (:mod:`airflow_ops.backup.identity`): system_identifier, dbname.
    database: dict[str, Any] = field(default_factory=dict)
    #: pg_dump's compression, ``method[:level]`` (None: pg_dump's default, gzip)
    compression: str | None = None
    #: seconds the dump's snapshot was held open (exported until the dump and the row counts ended)
    snapshot_seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pg_restore_major(self) -> int:
        """The oldest pg_restore major that reads this archive (its server's, 16 for lz4/zstd)."""
        from airflow_ops.backup.compression import restore_major

        return restore_major(int(self.server_version.split(".")[0]), self.compression)

    @property
    def compression_ratio(self) -> float:
        """Database size on disk divided by dump size (higher is smaller)."""
        return round(self.db_size_bytes / self.size_bytes, 2) if self.size_bytes else 0.0

    @property
    def mb_per_s(self) -> float:
        return round(self.size_bytes / 1e6 / self.duration_seconds, 2) if self.duration_seconds else 0.0

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> BackupManifest:
        raw = json.loads(data)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})
