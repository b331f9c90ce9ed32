"""The one validator of S3 bucket names and key prefixes, used by every kind's schema.

Bucket names follow S3's general-purpose bucket rules, so a name S3 would refuse is refused at
generate time for every kind alike. Prefixes are normalized (no leading or trailing ``/``) and
refused when they hold ``..``, ``.`` or empty parts, so the overlap checks compare real folders.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problem(name: str) -> str | None:
    """Why S3 would refuse ``name`` as a bucket name, or None."""
    if not _BUCKET.match(name):
        return (
            f"{name!r} is not an S3 bucket name: 3-63 characters of lowercase letters, digits, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    if ".." in name or ".-" in name or "-." in name:
        return f"{name!r} is not an S3 bucket name: no '..', '.-' or '-.'"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        return f"{name!r} is not an S3 bucket name: it looks like an IP address"
    for reserved in _RESERVED_PREFIXES:
        if name.startswith(reserved):
            return f"{name!r} is not an S3 bucket name: the prefix {reserved!r} is reserved by S3"
    for reserved in _RESERVED_SUFFIXES:
        if name.endswith(reserved):
            return f"{name!r} is not an S3 bucket name: the suffix {reserved!r} is reserved by S3"
    return None


def normalize_prefix(prefix: str) -> str:
    """``prefix`` without leading/trailing ``/``; ValueError when it escapes or has empty parts."""
    if any(ord(c) < 32 or ord(c) == 127 for c in prefix):
        raise ValueError(f"{prefix!r} holds a control character: use letters, digits and / - _ .")
    parts = prefix.strip().strip("/").split("/")
    if parts == [""]:
        raise ValueError(f"{prefix!r} is the whole bucket: give a folder, e.g. 'metadata-backup'")
    for part in parts:
        if part in ("", ".", ".."):
            shown = part or "an empty part (//)"
            raise ValueError(
                f"{prefix!r} holds {shown!r}: write the folder path plainly, e.g. 'team/backups'"
            )
    return "/".join(parts)


def _bucket(name: str) -> str:
    problem = bucket_name_problem(name)
    if problem:
        raise ValueError(problem)
    return name


BucketName = Annotated[str, AfterValidator(_bucket)]
KeyPrefix = Annotated[str, AfterValidator(normalize_prefix)]
