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
from typing import Any

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


def redact(
    text: str,
    secrets: Iterable[str | None] = (),
    environ: Mapping[str, str] | None = None,
    mask: str = MASK,
) -> str:
    """``text`` with every URL password and every known secret value replaced by ``mask`` (``***``)."""
    return _Redactor(secrets, environ, mask)(text)


def redact_data(
    value: Any, secrets: Iterable[str | None] = (), environ: Mapping[str, str] | None = None
) -> Any:
    """A copy of ``value`` (nested dicts, lists, tuples) with every string in it redacted, keys included.

    Other values (numbers, booleans, ``None``) are kept as they are. The environment is read once.
    """
    redactor = _Redactor(secrets, environ, MASK)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return redactor(item)
        if isinstance(item, Mapping):
            return {walk(k): walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        if isinstance(item, tuple):
            return tuple(walk(v) for v in item)
        return item

    return walk(value)


class _Redactor:
    """The known secrets and the environment's secret values, gathered once for many strings."""

    def __init__(self, secrets: Iterable[str | None], environ: Mapping[str, str] | None, mask: str) -> None:
        known = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH} | _registered
        # Longest first: a secret containing another is masked whole.
        self.known = sorted(known, key=len, reverse=True)
        self.env = [
            re.compile(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])")
            for value in sorted(secret_env_values(environ) - known, key=len, reverse=True)
        ]
        self.mask = mask

    def __call__(self, text: str) -> str:
        mask = self.mask
        for value in self.known:
            text = text.replace(value, mask)
        for pattern in self.env:
            text = pattern.sub(lambda _m: mask, text)
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + mask + "@", text)
        return _KEYWORD_PASSWORD.sub(lambda m: m.group("head") + mask, text)
