"""Retention applied to a bucket, its refusals, the latest-verified pointer and pins (issue 23).

Every expected list below is worked out by hand from the history the test lays down.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest

from airflow_ops.backup.catalog import BackupEntry
from airflow_ops.backup.errors import BackupError
from airflow_ops.backup.pointer import (
    VerifiedBackup,
    mark_verified,
    read_latest_verified,
    write_latest_verified,
)
from airflow_ops.backup.retention import RetentionPolicy, apply_retention
from tests.unit.fake_s3 import FakeBucket

NOV = [f"p/2026-11-{day:02d}T000000Z" for day in range(1, 6)]  # five daily backups, 1st..5th


def _bucket(unverified: tuple[int, ...] = (), pinned: tuple[int, ...] = ()) -> FakeBucket:
    """Five backups, Nov 1..5; the dump of day N holds 100 * N bytes. Indexes are 0-based days."""
    bucket = FakeBucket()
    for i, folder in enumerate(NOV):
        bucket.put_object("b", f"{folder}/metadata.dump", b"x" * (100 * (i + 1)))
        bucket.put_object("b", f"{folder}/manifest.json", b"{}")
        if i not in unverified:
            bucket.put_object("b", f"{folder}/verified.json", b"{}")
    for i in pinned:
        from airflow_ops.backup.pins import pin_backup

        pin_backup(
            bucket,
            "b",
            "p",
            NOV[i][2:],
            "before the upgrade",
            "ops",
            now=dt.datetime(2026, 11, 6, tzinfo=dt.UTC),
        )
    return bucket


KEEP_TWO = RetentionPolicy(daily=2, weekly=0, monthly=0)


def test_a_dry_run_lists_what_would_go_and_deletes_nothing() -> None:
    bucket = _bucket()
    before = dict(bucket.objects)
    result = apply_retention(bucket, "b", "p", KEEP_TWO, dry_run=True)
    assert result.dry_run is True
    assert result.expired == NOV[:3]
    assert result.kept == NOV[3:]
    assert result.bytes_freed == 100 + 200 + 300
    assert result.objects_deleted == 0
    assert bucket.objects == before and bucket.deleted == []


def test_a_real_run_deletes_exactly_the_expired_folders_markers_first() -> None:
    bucket = _bucket()
    result = apply_retention(bucket, "b", "p", KEEP_TWO)
    assert result.dry_run is False
    assert result.expired == NOV[:3] and result.kept == NOV[3:]
    assert result.objects_deleted == 9  # three folders of dump, manifest and verified.json
    assert result.bytes_freed == 600
    assert sorted(bucket.objects) == sorted(
        f"{f}/{n}" for f in NOV[3:] for n in ("manifest.json", "metadata.dump", "verified.json")
    )
    assert bucket.deleted[:3] == [f"{f}/verified.json" for f in NOV[:3]]


def test_a_pinned_backup_survives_the_run_and_its_pin_is_reported() -> None:
    bucket = _bucket(pinned=(0,))
    result = apply_retention(bucket, "b", "p", KEEP_TWO)
    assert result.expired == NOV[1:3]
    assert result.kept == [NOV[0], *NOV[3:]]
    assert f"{NOV[0]}/metadata.dump" in bucket.objects
    assert result.pinned == [
        {
            "format": 1,
            "folder": NOV[0],
            "reason": "before the upgrade",
            "pinned_by": "ops",
            "pinned_at": "2026-11-06T00:00:00+00:00",
        }
    ]


def test_without_pins_no_pin_is_reported() -> None:
    assert apply_retention(_bucket(), "b", "p", KEEP_TWO, dry_run=True).pinned == []


class _Selects(RetentionPolicy):
    """A policy that expires the folders it is told to: what a wrong rule, or a mutant, would do."""

    def __init__(self, folders: list[str]) -> None:
        super().__init__(daily=1, weekly=0, monthly=0)
        object.__setattr__(self, "folders", folders)

    def select_expired(self, backups: list[BackupEntry]) -> list[BackupEntry]:  # type: ignore[override]
        return [b for b in backups if b.folder in self.folders]  # type: ignore[attr-defined]


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_selection_holding_the_newest_verified_backup_is_refused_before_any_delete(dry_run: bool) -> None:
    bucket = _bucket(unverified=(4,))  # the 5th is in flight: the 4th is the newest verified
    before = dict(bucket.objects)
    with pytest.raises(BackupError) as caught:
        apply_retention(bucket, "b", "p", _Selects(NOV[:4]), dry_run=dry_run)
    assert str(caught.value) == (
        f"retention: refusing to delete {NOV[3]}, the newest verified backup; nothing was deleted "
        "(the policy selected it: check the retention settings)"
    )
    assert bucket.objects == before


def test_a_selection_holding_the_folder_the_pointer_names_is_refused() -> None:
    bucket = _bucket()
    write_latest_verified(
        bucket,
        "b",
        "p",
        VerifiedBackup(key=f"{NOV[2]}/metadata.dump", verified_at="2026-11-03T01:00:00+00:00"),
    )
    before = dict(bucket.objects)
    with pytest.raises(BackupError) as caught:
        apply_retention(bucket, "b", "p", _Selects(NOV[:3]))
    assert str(caught.value) == (
        f"retention: refusing to delete {NOV[2]}, which the latest-verified pointer names; nothing was "
        "deleted (re-run the backup so the pointer moves on a newer verified backup)"
    )
    assert bucket.objects == before


def test_an_unreadable_pointer_does_not_stop_a_retention_that_keeps_the_newest_verified() -> None:
    bucket = _bucket()
    bucket.put_object("b", "p/latest-verified.json", b"{garbage")
    assert apply_retention(bucket, "b", "p", KEEP_TWO).expired == NOV[:3]


def test_a_selection_holding_a_pinned_backup_is_refused_before_any_delete() -> None:
    bucket = _bucket(pinned=(1,))
    before = dict(bucket.objects)
    with pytest.raises(BackupError, match=f"retention: refusing to delete pinned backup {NOV[1]}"):
        apply_retention(bucket, "b", "p", _Selects(NOV[:2]))
    assert bucket.objects == before


# --- the latest-verified pointer: one record type, only moving forward ---


def _manifest(day: int, sha: str = "a") -> object:
    folder = f"p/2026-11-{day:02d}T000000Z"
    return type(
        "Manifest",
        (),
        {
            "key": f"{folder}/metadata.dump",
            "bucket": "b",
            "dag_id": "ops_metadata_backup",
            "logical_date": f"2026-11-{day:02d}T00:00:00+00:00",
            "sha256": sha * 64,
            "size_bytes": 7,
            "database": {"dbname": "airflow"},
        },
    )()


def test_the_pointer_holds_the_documented_fields_and_verified_json_the_same_record() -> None:
    """The field names are those :mod:`airflow_ops.assets` documents for consumers."""
    bucket = FakeBucket()
    mark_verified(bucket, _manifest(2), "p", "2026-11-02T00:10:00+00:00", True)
    pointer = json.loads(bucket.objects["p/latest-verified.json"][0])
    assert pointer == {
        "format": 1,
        "dag_id": "ops_metadata_backup",
        "logical_date": "2026-11-02T00:00:00+00:00",
        "key": "p/2026-11-02T000000Z/metadata.dump",
        "manifest_key": "p/2026-11-02T000000Z/manifest.json",
        "sha256": "a" * 64,
        "size_bytes": 7,
        "verified_at": "2026-11-02T00:10:00+00:00",
        "full_restore_checked": True,
        "database": {"dbname": "airflow"},
    }
    marker = json.loads(bucket.objects["p/2026-11-02T000000Z/verified.json"][0])
    assert marker == {k: v for k, v in pointer.items() if k != "format"}


def test_the_reader_returns_the_record_the_writer_wrote() -> None:
    bucket = FakeBucket()
    record = VerifiedBackup(
        key="p/x/metadata.dump",
        verified_at="2026-11-02T00:10:00+00:00",
        dag_id="d",
        logical_date="2026-11-02T00:00:00+00:00",
        manifest_key="p/x/manifest.json",
        sha256="b" * 64,
        size_bytes=3,
        full_restore_checked=True,
        database={"system_identifier": "1", "dbname": "airflow"},
    )
    assert write_latest_verified(bucket, "b", "/p/", record) == "p/latest-verified.json"
    assert read_latest_verified(bucket, "b", "p") == record
    assert record.folder == "p/x"


def test_a_backfilled_older_date_never_moves_the_pointer_back() -> None:
    bucket = FakeBucket()
    assert mark_verified(bucket, _manifest(2), "p", "2026-11-02T00:10:00+00:00", False) is True
    assert mark_verified(bucket, _manifest(1), "p", "2026-11-02T00:20:00+00:00", False) is False
    pointer = read_latest_verified(bucket, "b", "p")
    assert pointer is not None and pointer.key == "p/2026-11-02T000000Z/metadata.dump"
    assert pointer.verified_at == "2026-11-02T00:10:00+00:00"
    # the backfilled backup is verified all the same
    assert "p/2026-11-01T000000Z/verified.json" in bucket.objects


def test_a_newer_date_moves_the_pointer_forward() -> None:
    bucket = FakeBucket()
    mark_verified(bucket, _manifest(1), "p", "2026-11-01T00:10:00+00:00", False)
    assert mark_verified(bucket, _manifest(2), "p", "2026-11-02T00:10:00+00:00", False) is True
    assert read_latest_verified(bucket, "b", "p").key == "p/2026-11-02T000000Z/metadata.dump"  # type: ignore[union-attr]


def test_re_verifying_the_pointed_date_records_the_new_verification() -> None:
    """A re-run of the same date replaces its dump: the pointer must carry the new sha256."""
    bucket = FakeBucket()
    mark_verified(bucket, _manifest(2, "a"), "p", "2026-11-02T00:10:00+00:00", False)
    assert mark_verified(bucket, _manifest(2, "c"), "p", "2026-11-03T08:00:00+00:00", True) is True
    pointer = read_latest_verified(bucket, "b", "p")
    assert pointer is not None
    assert (pointer.sha256, pointer.verified_at, pointer.full_restore_checked) == (
        "c" * 64,
        "2026-11-03T08:00:00+00:00",
        True,
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{broken", id="not-json"),
        pytest.param(
            b'{"key": "p/old/metadata.dump", "verified_at": "2026-11-09T00:00:00+00:00"}', id="no-date"
        ),
    ],
)
def test_an_unreadable_or_undated_pointer_is_replaced_by_a_verified_backup(body: bytes) -> None:
    bucket = FakeBucket()
    bucket.put_object("b", "p/latest-verified.json", body)
    assert mark_verified(bucket, _manifest(1), "p", "2026-11-01T00:10:00+00:00", False) is True
    assert read_latest_verified(bucket, "b", "p").key == "p/2026-11-01T000000Z/metadata.dump"  # type: ignore[union-attr]


def test_no_pointer_reads_as_none() -> None:
    assert read_latest_verified(FakeBucket(), "b", "p") is None


# --- the reasons retention gives, and the policy's own limits ---


def _entry(day: int, verified: bool = True, pinned: bool = False) -> BackupEntry:
    when = dt.datetime(2026, 11, day, tzinfo=dt.UTC)
    return BackupEntry(folder=f"p/2026-11-{day:02d}T000000Z", when=when, verified=verified, pinned=pinned)


def test_each_kept_backup_says_why() -> None:
    """Nov 2 is a Monday; Nov 1 (Sunday) closes ISO week 44, the 2nd..4th are in week 45."""
    backups = [_entry(1, pinned=True), _entry(2), _entry(3), _entry(4, verified=False)]
    reasons = RetentionPolicy(daily=1, weekly=1, monthly=1).keep_reasons(backups)
    assert reasons == {
        "p/2026-11-01T000000Z": ["pinned"],
        "p/2026-11-03T000000Z": ["daily", "weekly", "monthly", "newest verified"],
        "p/2026-11-04T000000Z": ["newer than newest verified"],
    }


def test_before_any_backup_is_verified_every_one_is_kept_saying_so() -> None:
    backups = [_entry(1, verified=False), _entry(2, verified=False)]
    assert RetentionPolicy().keep_reasons(backups) == {
        "p/2026-11-01T000000Z": ["no verified backup yet"],
        "p/2026-11-02T000000Z": ["no verified backup yet"],
    }


def test_the_newest_verified_backup_is_kept_even_when_no_period_keeps_it() -> None:
    backups = [_entry(1), _entry(2), _entry(3, verified=False)]
    reasons = RetentionPolicy(daily=1, weekly=0, monthly=0).keep_reasons(backups)
    assert reasons["p/2026-11-02T000000Z"] == ["daily", "newest verified"]
    assert "p/2026-11-01T000000Z" not in reasons


@pytest.mark.parametrize(
    ("daily", "weekly", "monthly", "ok"),
    [
        pytest.param(1, 0, 0, True, id="smallest"),
        pytest.param(0, 4, 6, False, id="no-daily"),
        pytest.param(7, -1, 6, False, id="negative-weekly"),
        pytest.param(7, 4, -1, False, id="negative-monthly"),
    ],
)
def test_a_policy_needs_one_daily_and_no_negative_count(
    daily: int, weekly: int, monthly: int, ok: bool
) -> None:
    if ok:
        assert RetentionPolicy(daily, weekly, monthly).daily == daily
    else:
        with pytest.raises(ValueError, match=r"^retention needs daily >= 1 and weekly, monthly >= 0$"):
            RetentionPolicy(daily, weekly, monthly)


def test_the_defaults_are_seven_daily_four_weekly_six_monthly() -> None:
    assert (RetentionPolicy().daily, RetentionPolicy().weekly, RetentionPolicy().monthly) == (7, 4, 6)


def test_the_run_log_says_what_would_go_and_what_goes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="airflow_ops.backup.retention")
    apply_retention(_bucket(), "b", "p", KEEP_TWO, dry_run=True)
    assert [r.getMessage() for r in caplog.records][1:] == [f"  would delete {f}" for f in NOV[:3]]
    assert caplog.records[0].getMessage() == (
        "Retention RetentionPolicy(daily=2, weekly=0, monthly=0): 5 backups, keeping 2, would delete 3"
    )
    caplog.clear()
    apply_retention(_bucket(), "b", "p", KEEP_TWO)
    assert [r.getMessage() for r in caplog.records][1:] == [f"  deleting {f}" for f in NOV[:3]]
    assert caplog.records[0].getMessage() == (
        "Retention RetentionPolicy(daily=2, weekly=0, monthly=0): 5 backups, keeping 2, deleting 3"
    )


def test_the_pointer_file_is_sorted_indented_json() -> None:
    bucket = FakeBucket()
    write_latest_verified(
        bucket, "b", "p", VerifiedBackup(key="p/x/metadata.dump", verified_at="2026-11-02T00:10:00")
    )
    assert bucket.objects["p/latest-verified.json"][0].decode() == (
        "{\n"
        '  "dag_id": "",\n'
        '  "database": {},\n'
        '  "format": 1,\n'
        '  "full_restore_checked": false,\n'
        '  "key": "p/x/metadata.dump",\n'
        '  "logical_date": "",\n'
        '  "manifest_key": "",\n'
        '  "sha256": "",\n'
        '  "size_bytes": 0,\n'
        '  "verified_at": "2026-11-02T00:10:00"\n'
        "}"
    )
    assert bucket.content_types["p/latest-verified.json"] == "application/json"


def test_verified_json_is_the_same_sorted_indented_json() -> None:
    bucket = FakeBucket()
    mark_verified(bucket, _manifest(2), "p", "2026-11-02T00:10:00+00:00", False)
    marker = bucket.objects["p/2026-11-02T000000Z/verified.json"][0].decode()
    assert marker.startswith(
        '{\n  "dag_id": "ops_metadata_backup",\n  "database": {\n    "dbname": "airflow"\n  },\n'
    )
    assert bucket.content_types["p/2026-11-02T000000Z/verified.json"] == "application/json"


def test_a_pointer_that_reads_back_different_is_not_verified() -> None:
    from airflow_ops.storage import StorageError

    class Drifting(FakeBucket):
        def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
            obj = super().get_object(Bucket, Key)
            return (
                {"Body": io.BytesIO(b'{"key": "other"}'), "Metadata": {}}
                if Key.endswith("latest-verified.json")
                else obj
            )

    with pytest.raises(StorageError) as caught:
        write_latest_verified(
            Drifting(), "b", "p", VerifiedBackup(key="k", verified_at="2026-11-02T00:10:00")
        )
    assert str(caught.value) == (
        "s3://b/p/latest-verified.json reads back different from what was written: not verified"
    )


def test_replacing_an_unreadable_pointer_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    bucket = FakeBucket()
    bucket.put_object("b", "p/latest-verified.json", b"[]")
    caplog.set_level("WARNING", logger="airflow_ops.backup.pointer")
    mark_verified(bucket, _manifest(1), "p", "2026-11-01T00:10:00+00:00", False)
    assert {r.name for r in caplog.records} == {"airflow_ops.backup.pointer"}
    assert [r.getMessage() for r in caplog.records] == [
        "Replacing an unreadable pointer: s3://b/p/latest-verified.json holds JSON but not a pointer object"
    ]


def _verified_folder(bucket: FakeBucket, day: int) -> str:
    mark_verified(bucket, _manifest(day), "p", f"2026-11-{day:02d}T00:10:00+00:00", False)
    bucket.put_object("b", f"p/2026-11-{day:02d}T000000Z/metadata.dump", b"dump")
    return f"p/2026-11-{day:02d}T000000Z"


def test_unpointing_skips_unreadable_foreign_and_dumpless_backups_for_the_newest_good_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow_ops.backup.pointer import unpoint_folder

    bucket = FakeBucket()
    good = _verified_folder(bucket, 1)
    unreadable = _verified_folder(bucket, 2)
    foreign = _verified_folder(bucket, 3)
    dumpless = _verified_folder(bucket, 4)
    bucket.put_object("b", "p/2026-11-05T000000Z/metadata.dump", b"in flight")  # not verified
    pointed = _verified_folder(bucket, 6)
    bucket.put_object("b", f"{unreadable}/verified.json", b"{broken")
    bucket.put_object(
        "b",
        f"{foreign}/verified.json",
        json.dumps({"key": "q/x/metadata.dump", "verified_at": "2026-11-03"}).encode(),
    )
    bucket.delete_object("b", f"{dumpless}/metadata.dump")
    caplog.set_level("WARNING", logger="airflow_ops.backup.pointer")
    assert unpoint_folder(bucket, "b", "p", f"/{pointed}/") == f"{good}/metadata.dump"
    assert read_latest_verified(bucket, "b", "p").key == f"{good}/metadata.dump"  # type: ignore[union-attr]
    assert [r.getMessage() for r in caplog.records] == [
        f"Re-running /{pointed}/: p/latest-verified.json now points at the previous verified backup {good}"
    ]


def test_unpointing_the_only_verified_backup_removes_the_pointer(caplog: pytest.LogCaptureFixture) -> None:
    from airflow_ops.backup.pointer import unpoint_folder

    bucket = FakeBucket()
    only = _verified_folder(bucket, 1)
    caplog.set_level("WARNING", logger="airflow_ops.backup.pointer")
    assert unpoint_folder(bucket, "b", "p", only) is None
    assert "p/latest-verified.json" not in bucket.objects
    assert {r.name for r in caplog.records} == {"airflow_ops.backup.pointer"}
    assert [r.getMessage() for r in caplog.records] == [
        f"Re-running {only}, the only verified backup: p/latest-verified.json removed until verify passes"
    ]


def test_unpointing_another_folder_or_without_a_readable_pointer_changes_nothing() -> None:
    from airflow_ops.backup.pointer import unpoint_folder

    bucket = FakeBucket()
    first = _verified_folder(bucket, 1)
    second = _verified_folder(bucket, 2)
    assert unpoint_folder(bucket, "b", "p", first) == f"{second}/metadata.dump"
    bucket.put_object("b", "p/latest-verified.json", b"{broken")
    assert unpoint_folder(bucket, "b", "p", second) is None
    assert bucket.objects["p/latest-verified.json"][0] == b"{broken"
    assert unpoint_folder(FakeBucket(), "b", "p", first) is None


def test_a_verified_record_is_read_from_its_folder() -> None:
    from airflow_ops.backup.pointer import read_verified_record

    bucket = FakeBucket()
    folder = _verified_folder(bucket, 2)
    record = read_verified_record(bucket, "b", f"/{folder}/")
    assert record is not None and record.key == f"{folder}/metadata.dump"
    assert read_verified_record(bucket, "b", "p/2026-11-09T000000Z") is None


def test_a_failed_delete_is_one_backup_error_naming_the_store() -> None:
    class Refusing(FakeBucket):
        def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
            return {"Errors": [{"Key": o["Key"], "Code": "AccessDenied"} for o in Delete["Objects"]]}

    bucket = Refusing()
    for key, (body, _) in _bucket().objects.items():
        bucket.put_object("b", key, body)
    with pytest.raises(
        BackupError, match=r"^retention: could not delete 9 object\(s\) in s3://b/ \(AccessDenied\)"
    ):
        apply_retention(bucket, "b", "p", KEEP_TWO)


def test_an_unreadable_verified_record_names_where_it_is() -> None:
    from airflow_ops.backup.pointer import read_verified_record
    from airflow_ops.storage import StorageError

    bucket = FakeBucket()
    bucket.put_object("b", "p/2026-11-02T000000Z/verified.json", b'{"key": "k"}')
    with pytest.raises(StorageError) as caught:
        read_verified_record(bucket, "b", "p/2026-11-02T000000Z")
    assert str(caught.value) == (
        "s3://b/p/2026-11-02T000000Z/verified.json is not a verified-backup record: it has no 'verified_at'"
    )


def _verified_under(bucket: FakeBucket, prefix: str, day: int) -> str:
    """A verified backup of Nov ``day`` under ``prefix`` (whose name may begin or end with 'X')."""
    folder = f"{prefix}/2026-11-{day:02d}T000000Z"
    manifest = _manifest(day)
    manifest.key = f"{folder}/metadata.dump"  # type: ignore[attr-defined]
    mark_verified(bucket, manifest, prefix, f"2026-11-{day:02d}T00:10:00+00:00", False)
    bucket.put_object("b", f"{folder}/metadata.dump", b"dump")
    return folder


def test_only_slashes_are_stripped_from_a_prefix_or_folder_never_its_letters() -> None:
    """A prefix such as ``Xops`` or ``opsX`` keeps its X: the keys below are written out by hand."""
    from airflow_ops.backup.pointer import pointer_key, read_verified_record

    assert pointer_key("/opsX/") == "opsX/latest-verified.json"
    assert pointer_key("Xops") == "Xops/latest-verified.json"
    bucket = FakeBucket()
    folder = _verified_under(bucket, "opsX", 2)
    assert sorted(k for k in bucket.objects if k.endswith(".json")) == [
        "opsX/2026-11-02T000000Z/verified.json",
        "opsX/latest-verified.json",
    ]
    record = read_verified_record(bucket, "b", f"/{folder}/")
    assert record is not None and record.key == "opsX/2026-11-02T000000Z/metadata.dump"
    bucket.put_object("b", "runX/verified.json", bucket.objects[f"{folder}/verified.json"][0])
    again = read_verified_record(bucket, "b", "/runX/")
    assert again is not None and again.key == "opsX/2026-11-02T000000Z/metadata.dump"


def test_unpointing_a_folder_under_a_prefix_that_begins_with_x_moves_the_pointer_back() -> None:
    from airflow_ops.backup.pointer import unpoint_folder

    bucket = FakeBucket()
    older = _verified_under(bucket, "Xp", 1)
    newest = _verified_under(bucket, "Xp", 2)
    assert read_latest_verified(bucket, "b", "Xp").key == f"{newest}/metadata.dump"  # type: ignore[union-attr]
    assert unpoint_folder(bucket, "b", "Xp", f"/{newest}/") == "Xp/2026-11-01T000000Z/metadata.dump"
    assert read_latest_verified(bucket, "b", "Xp").key == f"{older}/metadata.dump"  # type: ignore[union-attr]
