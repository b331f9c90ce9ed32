"""The one error contract of every ``airflow-ops`` command.

- An argument or input error is one line on stderr, ``error: <what>; <fix>``,
  and exit :data:`USAGE` (2) -- except in ``probe``, whose 2 means critical: there it is
  :data:`PROBE_USAGE` (64, EX_USAGE), a code no verdict uses.
- An unexpected exception is one line naming the command and what failed, with ``--debug`` for the
  traceback, and exit :data:`UNEXPECTED` (1; :data:`PROBE_UNEXPECTED` 70 in the probe).
- Every line goes through the one redactor (``airflow_ops.redact``).
- A password given as a flag warns once and names the environment variable or file to use.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

from airflow_ops.exceptions import AirflowOpsError
from airflow_ops.redact import redact, register_secret

USAGE = 2
UNEXPECTED = 1
PROBE_USAGE = 64
PROBE_UNEXPECTED = 70


class UsageError(AirflowOpsError):
    """A flag, argument or input file is unusable; the message names it and the fix."""


def one_line(text: str) -> str:
    """``text`` redacted, on one line (control characters shown as spaces)."""
    return " ".join(redact(str(text)).split())


def say(message: str, *, kind: str = "error") -> None:
    print(f"{kind}: {one_line(message)}", file=sys.stderr)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one redacted line and exit ``usage_code``."""

    def __init__(self, *args: object, command: str, usage_code: int = USAGE, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.command = command
        self.usage_code = usage_code
        self.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")

    def error(self, message: str) -> NoReturn:
        say(f"{message} (see airflow-ops {self.command} --help)")
        raise SystemExit(self.usage_code)


def warn_password_flag(flag: str, value: str | None, alternative: str) -> None:
    """A secret given on the command line is visible in ``ps``: say so once, and keep it out of output."""
    if not value:
        return
    register_secret(value)
    say(f"{flag} is visible to every user of this machine (ps); use {alternative}", kind="warning")


def run(
    command: str,
    body: Callable[[list[str] | None], int],
    argv: list[str] | None,
    *,
    usage_code: int = USAGE,
    unexpected_code: int = UNEXPECTED,
) -> int:
    """Run ``body(argv)`` under the contract; ``--debug`` anywhere in ``argv`` shows tracebacks."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("AIRFLOW_OPS_DEBUG") == "1"
    try:
        return body(argv)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        say(f"airflow-ops {command} interrupted")
        return 130
    except (UsageError, AirflowOpsError) as exc:
        if debug:
            traceback.print_exc()
        say(str(exc))
        return usage_code
    except Exception as exc:
        if debug:
            traceback.print_exc()
        say(
            f"airflow-ops {command} failed unexpectedly ({type(exc).__name__}: {exc}); "
            "rerun with --debug for the traceback"
        )
        return unexpected_code
