"""Progress of a long step, on a terminal only: one line on stderr, rewritten in place.

With ``--json``, or when stderr is not a terminal (a pipe, a log file, CI), nothing is written, so
progress never mixes with a command's output or its logs.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(
        self, enabled: bool | None = None, stream: TextIO | None = None, every_s: float = 0.2
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.every_s = every_s
        self._last = 0.0
        self._shown = False

    def show(self, message: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return
        self._last = now
        self.stream.write("\r\x1b[K" + message[:200])
        self.stream.flush()
        self._shown = True

    def bytes(self, what: str, total: int) -> _Bytes:
        return _Bytes(self, what, total)

    def done(self) -> None:
        """End the progress line (before ordinary output)."""
        if self.enabled and self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


class _Bytes:
    def __init__(self, progress: Progress, what: str, total: int) -> None:
        self.progress, self.what, self.total = progress, what, total

    def __call__(self, done: int) -> None:
        pct = f" ({100 * done / self.total:.0f}%)" if self.total else ""
        self.progress.show(
            f"{self.what}: {done / 1e6:.1f} of {self.total / 1e6:.1f} MB{pct}", done >= self.total
        )
