"""Log cleanup: a streaming, fd-relative sweep of log roots with retention, safety window and archive.

``sweep.LogSweeper`` walks one root with ``os.scandir`` on directory file descriptors, never
following a symlink, and deletes expired files (or lists them in a dry run). ``roots`` resolves
the roots from the Airflow configuration and refuses dangerous ones. ``archive`` compresses
expired files to S3 and deletes them only after the upload is confirmed.
"""

from __future__ import annotations

from airflow_ops.logcleanup.roots import LogRoot, check_root
from airflow_ops.logcleanup.sweep import LogSweeper, RetentionPolicy, RootStats

__all__ = ["LogRoot", "LogSweeper", "RetentionPolicy", "RootStats", "check_root"]
