"""The one redactor: every CLI message and report passes through :func:`redact` before it is shown.

It masks the password of any URL (``scheme://user:PASSWORD@host`` -> ``scheme://user:***@host``,
SQLAlchemy, libpq, HTTP, Redis alike) and every known secret value: those passed in, those
registered with :func:`register_secret` (a password read from a flag, a key file), and the values
of the environment variables whose names say they hold a secret (:func:`secret_env_values`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

MASK = "***"

#: ``scheme://user:password@``: greedy up to the last ``@`` of the token, so a password holding an
#: unencoded ``@`` or ``/`` is masked whole (masking too much is the safe side).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:)(?P<pw>[^\s'\"]*)@")
#: ``password=...`` in a query string or a libpq keyword string
_KEYWORD_PASSWORD = re.compile(r"(?i)(?P<head>\b(?:password|passwd|pwd|secret|token)=)(?P<pw>[^\s&'\";]+)")
#: environment variable names whose values are secrets
_SECRET_NAME = re.compile(r"(?i)(PASSWORD|PASSWD|SECRET|TOKEN|FERNET|_KEY$|EXPORT_KEY|CREDENTIAL)")
#: shorter values are not masked: they would mask ordinary words (a 3-letter password is refused anyway)
MIN_SECRET_LENGTH = 4
#: values found only by their variable's name are masked from this length, and only as a whole token,
#: so PGPASSWORD=airflow does not turn every "airflow" of a message into "***"
MIN_ENV_SECRET_LENGTH = 8

_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask ``value`` in everything this process redacts from now on."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        _registered.add(value)


def secret_env_values(environ: Mapping[str, str] | None = None) -> set[str]:
    """Values of the environment variables named like secrets (``*PASSWORD*``, ``*_SECRET*``, ...)."""
    env = os.environ if environ is None else environ
    values: set[str] = set()
    for name, value in env.items():
        if _SECRET_NAME.search(name) and len(value) >= MIN_ENV_SECRET_LENGTH and not value.startswith("/"):
            values.add(value)
    return values


def redact(text: str, secrets: Iterable[str | None] = (), environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every URL password and every known secret value replaced by ``***``."""
    known = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH} | _registered
    # Longest first: a secret containing another is masked whole.
    for value in sorted(known, key=len, reverse=True):
        text = text.replace(value, MASK)
    for value in sorted(secret_env_values(environ) - known, key=len, reverse=True):
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", MASK, text)
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + "@", text)
    return _KEYWORD_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
