"""Which exports the config export's retention deletes, apart from S3 and the task glue.

The shared :class:`~airflow_ops.retention.GfsPolicy` picks the expired exports; two rules of the
export kind sit on top of it: a run that uploaded nothing deletes nothing, and the export this run
just wrote is never expired, whatever its date. The deletes remove every manifest before any object,
so a run stopped between two batches never leaves a manifest (what marks an export complete)
without its object.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from airflow_ops.retention import GfsPolicy


class StoredExport(Protocol):
    """What the rules read of a stored export (``airflow_ops.export.store.ExportRef`` is one)."""

    @property
    def object_key(self) -> str: ...
    @property
    def manifest_key(self) -> str: ...
    @property
    def when(self) -> dt.datetime: ...


Ref = TypeVar("Ref", bound=StoredExport)

NOTHING_UPLOADED = "this run uploaded nothing, so nothing is deleted"


def expired_exports(
    refs: Sequence[Ref], policy: GfsPolicy, *, this_key: str, uploaded: bool, dry_run: bool
) -> tuple[list[Ref], str | None]:
    """(the exports to delete, oldest first; why none are, or ``None``).

    ``this_key`` is the object key this run wrote (or, in a dry run, would write). A dry run reports
    what would go even when it uploaded nothing."""
    if not uploaded and not dry_run:
        return [], NOTHING_UPLOADED
    expired = [r for r in policy.select_expired(refs, lambda r: r.when) if r.object_key != this_key]
    return expired, None


def deletion_keys(refs: Sequence[StoredExport]) -> list[str]:
    """The keys to delete, in order: every manifest, then every object."""
    return [r.manifest_key for r in refs] + [r.object_key for r in refs]
