"""Archive expired log files to S3 before deleting them.

Files are appended to a local ``.tar.gz`` batch as the sweep finds them; when a batch is full
(or the root is done) it is uploaded, the upload is confirmed with ``HEAD`` (size must match),
and only then are the batch's files deleted, each re-checked (same size and mtime, reached
through ``O_NOFOLLOW`` directory descriptors) so a file rewritten since it was archived survives.

Kill-safe: a batch is built in an unnamed temporary file (nothing stays on disk when the task
process is killed), and a retried attempt numbers its batches after those already uploaded and
aborts the multipart uploads a killed attempt left open.
"""

from __future__ import annotations

import os
import re
import tarfile
import tempfile
from dataclasses import dataclass, field
from typing import IO, Any

from airflow_ops.logcleanup.sweep import RootStats
from airflow_ops.storage import (
    StorageError,
    abort_incomplete_uploads,
    list_objects,
    upload_fileobj_confirmed,
)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class ArchiveUploadError(StorageError):
    """An archive could not be uploaded or confirmed; none of its files were deleted."""


@dataclass
class _Pending:
    relpath: str
    size: int
    mtime_ns: int


@dataclass
class S3LogArchiver:
    """One archiver per root. ``client`` is a boto3 S3 client (``S3Hook(...).get_conn()``)."""

    client: Any
    bucket: str
    key_prefix: str
    root_path: str
    stats: RootStats
    max_files: int = 20_000
    max_bytes: int = 512 * 1024 * 1024
    uploaded: list[str] = field(default_factory=list)
    _pending: list[_Pending] = field(default_factory=list)
    _bytes: int = 0
    _tar: tarfile.TarFile | None = None
    #: the batch being written: an unnamed temporary file, so a killed task leaves nothing on disk
    _tmp: IO[bytes] | None = None
    #: index of the next batch key; found on the first upload (after the batches already there)
    _next: int | None = None

    def add(self, dir_fd: int, name: str, relpath: str, st: os.stat_result) -> None:
        if self._tar is None:
            self._tmp = tempfile.TemporaryFile(prefix="airflow-ops-logs-", suffix=".tar.gz")  # noqa: SIM115
            self._tar = tarfile.open(fileobj=self._tmp, mode="w:gz", compresslevel=6)  # noqa: SIM115
        ffd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        with os.fdopen(ffd, "rb") as fh:
            info = tarfile.TarInfo(relpath)
            info.size = st.st_size
            info.mtime = int(st.st_mtime)
            info.mode = st.st_mode & 0o777
            self._tar.addfile(info, fh)
        self._pending.append(_Pending(relpath, st.st_size, st.st_mtime_ns))
        self._bytes += st.st_size
        if len(self._pending) >= self.max_files or self._bytes >= self.max_bytes:
            self._flush()

    def finish(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self._tar is None or self._tmp is None:
            return
        self._tar.close()
        tmp, self._tar, self._tmp = self._tmp, None, None
        try:
            try:
                if self._next is None:
                    self._next = self._resume()
                key = f"{self.key_prefix}-{self._next:05d}.tar.gz"
                upload_fileobj_confirmed(self.client, self.bucket, key, tmp)
            except StorageError as exc:
                raise ArchiveUploadError(f"{exc}; no log file was deleted") from None
        finally:
            tmp.close()
        self.uploaded.append(key)
        self._next += 1
        self._delete_pending()

    def _resume(self) -> int:
        """The first batch index free under this run's key prefix.

        An earlier attempt of the same run (its task process killed, then retried) may have uploaded
        batches and deleted their files: numbering from 0 again would overwrite those archives, the
        only copy of logs already deleted. Its incomplete multipart uploads are aborted here too.
        """
        batch = re.compile(re.escape(self.key_prefix.rsplit("/", 1)[-1]) + r"-(\d{5,})\.tar\.gz$")
        folder = self.key_prefix.rsplit("/", 1)[0] + "/" if "/" in self.key_prefix else ""

        def ours(key: str) -> bool:
            return batch.match(key[len(folder) :]) is not None

        abort_incomplete_uploads(self.client, self.bucket, self.key_prefix + "-", ours)
        taken = [
            int(m.group(1))
            for obj in list_objects(self.client, self.bucket, self.key_prefix + "-")
            if (m := batch.match(str(obj["Key"])[len(folder) :]))
        ]
        return max(taken) + 1 if taken else 0

    def _delete_pending(self) -> None:
        root_fd = os.open(self.root_path, _DIR_FLAGS)
        parent_rel: str | None = None
        parent_fd: int | None = None
        try:
            for item in self._pending:
                head, _, name = item.relpath.rpartition("/")
                if head != parent_rel:
                    if parent_fd is not None and parent_fd != root_fd:
                        os.close(parent_fd)
                    parent_fd, parent_rel = _open_dir(root_fd, head), head
                if parent_fd is None:
                    self._undo(item, "vanished")
                    continue
                try:
                    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
                    if st.st_size != item.size or st.st_mtime_ns != item.mtime_ns:
                        self._undo(item, "changed_since_archived")
                        continue
                    os.unlink(name, dir_fd=parent_fd)
                except FileNotFoundError:
                    self._undo(item, "vanished")
        finally:
            if parent_fd is not None and parent_fd != root_fd:
                os.close(parent_fd)
            os.close(root_fd)
            self._pending.clear()
            self._bytes = 0

    def _undo(self, item: _Pending, reason: str) -> None:
        """The sweep counted this file as deleted when it was archived; it was not."""
        self.stats.files_deleted -= 1
        self.stats.bytes_deleted -= item.size
        self.stats.note_skip(reason, item.relpath)


def _open_dir(root_fd: int, rel: str) -> int | None:
    """Open ``rel`` under ``root_fd`` one component at a time, never following a symlink."""
    fd = root_fd
    try:
        for part in [p for p in rel.split("/") if p]:
            nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            if fd != root_fd:
                os.close(fd)
            fd = nfd
    except OSError:
        if fd != root_fd:
            os.close(fd)
        return None
    return fd
