"""Pins: the record a pin writes, its refusals, unpinning and how a pin is described (issue 23)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from airflow_ops.backup.errors import BackupError
from airflow_ops.backup.pins import describe, pin_backup, read_pin, unpin_backup
from tests.unit.fake_s3 import FakeBucket

FOLDER = "p/2026-11-23T000000Z"
AT = dt.datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=dt.UTC)


def _with_dump() -> FakeBucket:
    bucket = FakeBucket()
    bucket.put_object("b", f"{FOLDER}/metadata.dump", b"dump")
    return bucket


@pytest.mark.parametrize(
    "name", ["2026-11-23T000000Z", FOLDER, f"/{FOLDER}/", "elsewhere/2026-11-23T000000Z"]
)
def test_a_pin_writes_its_record_in_the_backups_folder(name: str) -> None:
    bucket = _with_dump()
    record = pin_backup(bucket, "b", "/p/", name, "  before the\n 3.3   upgrade ", "alice", now=AT)
    expected = {
        "format": 1,
        "folder": FOLDER,
        "reason": "before the 3.3 upgrade",
        "pinned_by": "alice",
        "pinned_at": "2026-11-24T10:00:00+00:00",
    }
    assert record == expected
    assert json.loads(bucket.objects[f"{FOLDER}/pinned.json"][0]) == expected


def test_a_long_reason_is_cut_at_300_characters() -> None:
    record = pin_backup(_with_dump(), "b", "p", FOLDER, "x" * 301, "alice", now=AT)
    assert record["reason"] == "x" * 300


def test_a_pin_without_time_is_stamped_now_to_the_second() -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    record = pin_backup(_with_dump(), "b", "p", FOLDER, "why", "alice")
    after = dt.datetime.now(dt.UTC)
    pinned_at = dt.datetime.fromisoformat(record["pinned_at"])
    assert before <= pinned_at <= after and pinned_at.microsecond == 0


@pytest.mark.parametrize("reason", ["", "   \n\t "])
def test_a_pin_needs_a_reason(reason: str) -> None:
    bucket = _with_dump()
    with pytest.raises(
        BackupError, match=r"^a pin needs a reason \(e\.g\. 'before the 3\.3 upgrade'\), so others"
    ):
        pin_backup(bucket, "b", "p", FOLDER, reason, "alice", now=AT)
    assert f"{FOLDER}/pinned.json" not in bucket.objects


@pytest.mark.parametrize("name", ["latest", "2026-11-23", "p/2026-11-23T0000Z", "2026-11-23T000000ZX"])
def test_a_name_that_is_not_a_backup_stamp_is_refused(name: str) -> None:
    with pytest.raises(BackupError) as caught:
        pin_backup(_with_dump(), "b", "p", name, "why", "alice", now=AT)
    assert (
        str(caught.value) == f"{name!r} is not a backup name: use its folder stamp, e.g. 2026-11-23T000000Z"
    )


def test_pinning_a_backup_that_does_not_exist_is_refused() -> None:
    bucket = FakeBucket()
    with pytest.raises(BackupError) as caught:
        pin_backup(bucket, "b", "p", FOLDER, "why", "alice", now=AT)
    assert str(caught.value) == f"no backup at s3://b/{FOLDER}/: nothing to pin (see --list)"
    assert bucket.objects == {}


class _Denied(FakeBucket):
    class AccessDenied(Exception):
        response: dict[str, Any] = {"Error": {"Code": "AccessDenied"}}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        raise self.AccessDenied(Key)


def test_an_error_other_than_not_found_is_not_mistaken_for_a_missing_backup() -> None:
    with pytest.raises(_Denied.AccessDenied):
        pin_backup(_Denied(), "b", "p", FOLDER, "why", "alice", now=AT)
    with pytest.raises(_Denied.AccessDenied):
        unpin_backup(_Denied(), "b", "p", FOLDER)


def test_unpin_removes_the_pin_once() -> None:
    bucket = _with_dump()
    pin_backup(bucket, "b", "p", FOLDER, "why", "alice", now=AT)
    assert unpin_backup(bucket, "b", "p", "2026-11-23T000000Z") is True
    assert f"{FOLDER}/pinned.json" not in bucket.objects
    assert f"{FOLDER}/metadata.dump" in bucket.objects
    assert unpin_backup(bucket, "b", "p", "2026-11-23T000000Z") is False


def test_unpin_refuses_a_name_that_is_not_a_stamp() -> None:
    with pytest.raises(BackupError, match="is not a backup name"):
        unpin_backup(FakeBucket(), "b", "p", "latest")


def test_read_pin_returns_the_record_adding_the_folder_when_missing() -> None:
    bucket = FakeBucket()
    bucket.put_object(
        "b", f"{FOLDER}/pinned.json", json.dumps({"reason": "kept", "pinned_by": "bob"}).encode()
    )
    assert read_pin(bucket, "b", FOLDER) == {"reason": "kept", "pinned_by": "bob", "folder": FOLDER}
    bucket.put_object("b", f"{FOLDER}/pinned.json", json.dumps({"folder": "p/other", "reason": "r"}).encode())
    assert read_pin(bucket, "b", FOLDER) == {"folder": "p/other", "reason": "r"}


def test_an_unreadable_pin_still_reads_as_a_pin_saying_why() -> None:
    bucket = FakeBucket()
    assert read_pin(bucket, "b", FOLDER) == {"folder": FOLDER, "reason": "(pin record unreadable: NoSuchKey)"}
    bucket.put_object("b", f"{FOLDER}/pinned.json", b"{not json")
    assert read_pin(bucket, "b", FOLDER) == {
        "folder": FOLDER,
        "reason": "(pin record unreadable: JSONDecodeError)",
    }


@pytest.mark.parametrize(
    ("pin", "text"),
    [
        pytest.param(
            {"folder": FOLDER, "reason": "r", "pinned_by": "bob", "pinned_at": "2026-11-24T10:00:00+00:00"},
            "2026-11-23T000000Z (r, by bob 2026-11-24T10:00:00+00:00)",
            id="full",
        ),
        pytest.param({"folder": FOLDER, "reason": "r"}, "2026-11-23T000000Z (r)", id="reason-only"),
        pytest.param({"folder": FOLDER, "reason": ""}, "2026-11-23T000000Z (no reason)", id="empty-reason"),
        pytest.param({"pinned_by": "bob"}, " (no reason, by bob)", id="no-folder"),
        pytest.param(
            {"folder": FOLDER, "pinned_at": "t"}, "2026-11-23T000000Z (no reason t)", id="time-only"
        ),
    ],
)
def test_describe_names_the_stamp_reason_who_and_when(pin: dict[str, Any], text: str) -> None:
    assert describe(pin) == text


def test_the_pin_file_is_indented_json() -> None:
    bucket = _with_dump()
    pin_backup(bucket, "b", "p", FOLDER, "why", "alice", now=AT)
    assert bucket.objects[f"{FOLDER}/pinned.json"][0].decode() == (
        "{\n"
        '  "format": 1,\n'
        f'  "folder": "{FOLDER}",\n'
        '  "reason": "why",\n'
        '  "pinned_by": "alice",\n'
        '  "pinned_at": "2026-11-24T10:00:00+00:00"\n'
        "}"
    )
    assert bucket.content_types[f"{FOLDER}/pinned.json"] == "application/json"


@pytest.mark.parametrize("code", ["404", "NoSuchKey", "NotFound"])
def test_each_not_found_code_means_no_backup_and_no_pin(code: str) -> None:
    class Missing(FakeBucket):
        def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
            exc = Exception(Key)
            exc.response = {"Error": {"Code": code}}  # type: ignore[attr-defined]
            raise exc

    with pytest.raises(BackupError, match="nothing to pin"):
        pin_backup(Missing(), "b", "p", FOLDER, "why", "alice", now=AT)
    assert unpin_backup(Missing(), "b", "p", FOLDER) is False


def test_a_deeper_name_and_a_prefix_starting_with_x_keep_their_parts() -> None:
    bucket = FakeBucket()
    bucket.put_object("b", "Xbackups/2026-11-23T000000Z/metadata.dump", b"dump")
    record = pin_backup(bucket, "b", "/Xbackups/", "a/b/2026-11-23T000000Z", "why", "alice", now=AT)
    assert record["folder"] == "Xbackups/2026-11-23T000000Z"
    assert describe({"folder": "a/b/2026-11-23T000000Z", "reason": "r"}) == "2026-11-23T000000Z (r)"
