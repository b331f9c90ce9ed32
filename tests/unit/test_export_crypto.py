"""The sealed export format: authenticated encryption, key ids, rotation, keyed hashes."""

from __future__ import annotations

import pytest

from airflow_ops.export.crypto import (
    ExportCryptoError,
    ExportKey,
    TamperedObjectError,
    WrongKeyError,
    open_sealed,
)

KEY_A = "a" * 16 + "-export-key-one-0001"
KEY_B = "b" * 16 + "-export-key-two-0002"
PAYLOAD = '{"secret": "hunter2-pässwörd"}'.encode()


def test_sealed_object_opens_with_the_same_key() -> None:
    key = ExportKey(KEY_A)
    assert open_sealed(key.seal(PAYLOAD, "now"), key) == PAYLOAD


def test_sealed_object_holds_no_plaintext() -> None:
    blob = ExportKey(KEY_A).seal(PAYLOAD, "now")
    assert b"hunter2" not in blob


def test_wrong_key_is_named_as_such() -> None:
    blob = ExportKey(KEY_A).seal(PAYLOAD, "now")
    with pytest.raises(WrongKeyError, match="wrong key: the export was sealed with key id"):
        open_sealed(blob, ExportKey(KEY_B))


@pytest.mark.parametrize(
    "offset",
    [pytest.param(-1, id="tag"), pytest.param(-30, id="body"), pytest.param(40, id="nonce-or-header")],
)
def test_any_flipped_byte_is_detected(offset: int) -> None:
    blob = bytearray(ExportKey(KEY_A).seal(PAYLOAD * 5, "now"))
    blob[offset] ^= 0x01
    with pytest.raises(ExportCryptoError):
        open_sealed(bytes(blob), ExportKey(KEY_A))


def test_modified_body_is_reported_as_tampering() -> None:
    blob = bytearray(ExportKey(KEY_A).seal(PAYLOAD, "now"))
    blob[-5] ^= 0x80
    with pytest.raises(TamperedObjectError, match="modified"):
        open_sealed(bytes(blob), ExportKey(KEY_A))


def test_truncated_object_is_rejected() -> None:
    blob = ExportKey(KEY_A).seal(PAYLOAD, "now")
    with pytest.raises(ExportCryptoError):
        open_sealed(blob[:-20], ExportKey(KEY_A))


def test_foreign_object_is_rejected() -> None:
    with pytest.raises(ExportCryptoError, match="bad magic"):
        open_sealed(b"PK\x03\x04 a zip file", ExportKey(KEY_A))


def test_rotated_secret_seals_with_first_and_opens_with_any() -> None:
    old = ExportKey(KEY_B).seal(PAYLOAD, "now")
    rotated = ExportKey(f"{KEY_A},{KEY_B}")
    assert open_sealed(old, rotated) == PAYLOAD
    assert open_sealed(rotated.seal(PAYLOAD, "now"), ExportKey(KEY_A)) == PAYLOAD


def test_short_key_is_refused_with_how_to_generate_one() -> None:
    with pytest.raises(ExportCryptoError, match=r"shorter than 32 characters.*token_urlsafe"):
        ExportKey("too-short")


def test_plaintext_object_needs_explicit_consent_to_open() -> None:
    blob = ExportKey(None).seal(PAYLOAD, "now")
    with pytest.raises(ExportCryptoError, match="NOT encrypted"):
        open_sealed(blob, ExportKey(KEY_A))
    assert open_sealed(blob, ExportKey(KEY_A), allow_plaintext=True) == PAYLOAD


def test_keyed_hash_depends_on_key_name_and_value() -> None:
    a, b = ExportKey(KEY_A), ExportKey(KEY_B)
    base = a.digest("variable", "k", {"value": "v"})
    assert base == a.digest("variable", "k", {"value": "v"})
    assert base != b.digest("variable", "k", {"value": "v"})
    assert base != a.digest("variable", "k2", {"value": "v"})
    assert base != a.digest("variable", "k", {"value": "w"})


def test_key_repr_shows_only_key_ids() -> None:
    assert KEY_A not in repr(ExportKey(KEY_A))
