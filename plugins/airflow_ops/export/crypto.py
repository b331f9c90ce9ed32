"""The sealed object format: gzip, then AES-256-GCM under a key derived from a secret.

Object layout::

    b"AOPSCX1\\n" | header length (4 bytes, big endian) | header (JSON) | nonce (12) | ciphertext+tag

The header (algorithm, key id, creation time) is authenticated as associated data, so any
change to header or body fails decryption. The secret is any string of at least 32 characters
(``python -c 'import secrets; print(secrets.token_urlsafe(32))'``); HKDF-SHA256 derives
independent keys for encryption, for the keyed hashes of the diff and for the key id. A secret
may hold several comma-separated keys: the first seals, any of them opens (rotation).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from airflow_ops.exceptions import AirflowOpsError

MAGIC = b"AOPSCX1\n"
ALG_AES = "AES-256-GCM"
ALG_NONE = "none"
MIN_SECRET_CHARS = 32
_SALT = b"airflow-ops config export v1"


class ExportCryptoError(AirflowOpsError):
    """The object cannot be opened: not an export, wrong key, or tampered with."""


class WrongKeyError(ExportCryptoError):
    pass


class TamperedObjectError(ExportCryptoError):
    pass


def _derive(secret: bytes, label: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=_SALT, info=label).derive(secret)


@dataclass(frozen=True)
class _Key:
    key_id: str
    enc: bytes
    mac: bytes

    def __repr__(self) -> str:
        return f"_Key(key_id={self.key_id})"


class ExportKey:
    """One or more keys from a secret; ``None`` secret means plaintext mode (unkeyed hashes)."""

    def __init__(self, secret: str | None, source: str = "the export key secret") -> None:
        self._keys: list[_Key] = []
        if secret is None:
            return
        parts = [p.strip() for p in secret.split(",") if p.strip()]
        if not parts:
            raise ExportCryptoError(
                f"{source} is empty: store a key of at least {MIN_SECRET_CHARS} characters"
            )
        for part in parts:
            if len(part) < MIN_SECRET_CHARS:
                raise ExportCryptoError(
                    f"{source} holds a key shorter than {MIN_SECRET_CHARS} characters; generate one with "
                    "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
                )
            raw = part.encode("utf-8")
            self._keys.append(
                _Key(
                    _derive(raw, b"key-id", 8).hex(),
                    _derive(raw, b"aes-256-gcm"),
                    _derive(raw, b"hmac-sha256"),
                )
            )

    def __repr__(self) -> str:
        return f"ExportKey(ids={self.key_ids})"

    @property
    def encrypting(self) -> bool:
        return bool(self._keys)

    @property
    def key_ids(self) -> list[str]:
        return [k.key_id for k in self._keys]

    @property
    def hash_key_id(self) -> str:
        """Identifies the keyed-hash key: digests from different keys are not comparable."""
        return self._keys[0].key_id if self._keys else "unkeyed"

    def digest(self, kind: str, name: str, fields: dict[str, Any]) -> str:
        """Keyed hash of one entry; the name is bound in, so equal values do not link entries."""
        mac = self._keys[0].mac if self._keys else b"airflow-ops unkeyed"
        body = json.dumps([kind, name, fields], sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hmac.new(mac, body, hashlib.sha256).hexdigest()[:32]

    def seal(self, payload: bytes, created: str) -> bytes:
        compressed = gzip.compress(payload, compresslevel=6, mtime=0)
        header: dict[str, Any] = {
            "alg": ALG_AES if self._keys else ALG_NONE,
            "created": created,
            "compression": "gzip",
        }
        if self._keys:
            header["key_id"] = self._keys[0].key_id
        head = json.dumps(header, sort_keys=True).encode("utf-8")
        prefix = MAGIC + struct.pack(">I", len(head)) + head
        if not self._keys:
            return prefix + compressed
        nonce = os.urandom(12)
        return prefix + nonce + AESGCM(self._keys[0].enc).encrypt(nonce, compressed, prefix)


def read_header(blob: bytes) -> tuple[dict[str, Any], int]:
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 4:
        raise ExportCryptoError("not an airflow-ops config export (bad magic): wrong object or truncated")
    (size,) = struct.unpack(">I", blob[len(MAGIC) : len(MAGIC) + 4])
    end = len(MAGIC) + 4 + size
    try:
        header = json.loads(blob[len(MAGIC) + 4 : end])
    except ValueError:
        raise TamperedObjectError(
            "export header is unreadable: the object was modified or truncated"
        ) from None
    if not isinstance(header, dict) or header.get("alg") not in (ALG_AES, ALG_NONE):
        raise TamperedObjectError("export header names no known algorithm: the object was modified")
    return header, end


def open_sealed(blob: bytes, key: ExportKey, allow_plaintext: bool = False) -> bytes:
    """Return the payload, or raise: nothing is usable unless the whole object authenticates."""
    header, end = read_header(blob)
    if header["alg"] == ALG_NONE:
        if not allow_plaintext:
            raise ExportCryptoError(
                "this export is NOT encrypted (written with allow_plaintext); pass --allow-plaintext "
                "if you expect that, since an unencrypted object cannot be authenticated"
            )
        body = blob[end:]
    else:
        wanted = header.get("key_id")
        match = [k for k in key._keys if k.key_id == wanted]
        if not match:
            have = ", ".join(key.key_ids) or "none"
            raise WrongKeyError(
                f"wrong key: the export was sealed with key id {wanted}, the key(s) given have id(s) {have}. "
                "Use the export key that was current when the object was written."
            )
        nonce, ciphertext = blob[end : end + 12], blob[end + 12 :]
        try:
            body = AESGCM(match[0].enc).decrypt(nonce, ciphertext, blob[:end])
        except InvalidTag:
            raise TamperedObjectError(
                f"authentication failed with the right key id ({wanted}): the object was modified or "
                "truncated after it was written. Restore another export."
            ) from None
    try:
        return gzip.decompress(body)
    except (OSError, EOFError):
        raise TamperedObjectError("export body is not valid gzip: the object was modified") from None
