"""Write a secret to disk readable by its owner only: mode 0600, never 0644 for an instant.

The content goes to a fresh 0600 file in the same directory that then replaces the target, so an
existing file (whatever its mode, or whoever holds it open) never receives the new secret: the
target ends 0600 whether it existed or not. A directory created on the way is 0700.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create ``path`` (0700) or tighten an existing directory to 0700; return it."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        path.chmod(DIR_MODE)
    return path


def write_secret(path: Path, text: str, *, tighten_dir: bool = False) -> Path:
    """Write ``text`` to ``path`` as mode 0600.

    ``tighten_dir``: also make the parent directory 0700 (for directories the caller owns, like a
    throwaway AIRFLOW_HOME); otherwise only a parent created here is 0700.
    """
    parent = path.parent
    if tighten_dir:
        private_dir(parent)
    elif not parent.exists():
        parent.mkdir(mode=DIR_MODE, parents=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")  # mkstemp: 0600
    try:
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def remove_secrets(paths: list[Path]) -> list[Path]:
    """Delete each existing file of ``paths``; return those removed."""
    removed = []
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed
