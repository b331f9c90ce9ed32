"""GFS retention: which backups a policy keeps, on synthetic histories."""

from __future__ import annotations

import datetime as dt

import pytest

from airflow_ops.backup.catalog import BackupEntry
from airflow_ops.backup.layout import stamp
from airflow_ops.backup.retention import RetentionPolicy
from tests.unit.fake_s3 import FakeBucket

END = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)  # a Monday


def history(days: int, unverified: set[int] = frozenset()) -> list[BackupEntry]:  # type: ignore[assignment]
    """One daily backup at midnight for ``days`` days ending at END; ``unverified`` are day offsets."""
    out = []
    for back in range(days - 1, -1, -1):
        when = END - dt.timedelta(days=back)
        out.append(BackupEntry(folder=f"p/{stamp(when)}", when=when, verified=back not in unverified))
    return out


def kept_dates(policy: RetentionPolicy, backups: list[BackupEntry]) -> list[dt.date]:
    expired = {b.folder for b in policy.select_expired(backups)}
    return sorted(b.when.date() for b in backups if b.folder not in expired)


def expected_gfs(daily: int, weekly: int, monthly: int, days: int) -> list[dt.date]:
    """Independent statement of the rule: newest backup of the last N days/weeks/months."""
    dates = [END.date() - dt.timedelta(days=b) for b in range(days)]  # newest first
    keep: set[dt.date] = set(dates[:daily])
    weeks: dict[tuple[int, int], dt.date] = {}
    months: dict[tuple[int, int], dt.date] = {}
    for d in dates:
        weeks.setdefault(tuple(d.isocalendar())[:2], d)  # type: ignore[arg-type]
        months.setdefault((d.year, d.month), d)
    keep |= set(list(weeks.values())[:weekly]) | set(list(months.values())[:monthly])
    return sorted(keep)


def test_400_day_history_keeps_exactly_the_gfs_set() -> None:
    policy = RetentionPolicy(daily=7, weekly=4, monthly=6)
    kept = kept_dates(policy, history(400))
    assert kept == expected_gfs(7, 4, 6, 400)


def test_400_day_history_keeps_the_hand_computed_dates() -> None:
    kept = kept_dates(RetentionPolicy(daily=7, weekly=4, monthly=6), history(400))
    d = dt.date
    dailies = [d(2026, 11, day) for day in range(17, 24)]
    weeklies = [d(2026, 11, 8), d(2026, 11, 15)]  # Sundays ending ISO weeks 45, 46 (47, 48 are dailies)
    monthlies = [d(2026, 6, 30), d(2026, 7, 31), d(2026, 8, 31), d(2026, 9, 30), d(2026, 10, 31)]
    assert kept == sorted(set(dailies + weeklies + monthlies))


def test_expired_backups_are_returned_oldest_first() -> None:
    expired = RetentionPolicy(daily=3, weekly=0, monthly=0).select_expired(history(10))
    assert [b.when for b in expired] == sorted(b.when for b in expired)
    assert len(expired) == 7


def test_newest_verified_survives_when_newer_backups_are_unverified() -> None:
    backups = history(30, unverified={0, 1, 2})
    kept = kept_dates(RetentionPolicy(daily=1, weekly=0, monthly=0), backups)
    newest_verified = (END - dt.timedelta(days=3)).date()
    assert newest_verified in kept


def test_unverified_backups_newer_than_the_newest_verified_are_kept() -> None:
    backups = history(30, unverified={0, 1})
    kept = kept_dates(RetentionPolicy(daily=1, weekly=0, monthly=0), backups)
    assert kept == [END.date() - dt.timedelta(days=n) for n in (2, 1, 0)]


def test_old_unverified_backups_expire() -> None:
    backups = history(10, unverified={5})
    expired = RetentionPolicy(daily=10, weekly=0, monthly=0).select_expired(backups)
    assert [b.when.date() for b in expired] == [(END - dt.timedelta(days=5)).date()]


def test_without_any_verified_backup_nothing_expires() -> None:
    backups = history(20, unverified=set(range(20)))
    assert RetentionPolicy(daily=1, weekly=0, monthly=0).select_expired(backups) == []


def test_gaps_in_history_do_not_eat_the_remaining_backups() -> None:
    backups = [b for b in history(60) if b.when < END - dt.timedelta(days=40)]  # nothing for 40 days
    kept = kept_dates(RetentionPolicy(daily=7, weekly=0, monthly=0), backups)
    assert len(kept) == 7


def test_several_backups_a_day_keep_only_the_newest_of_the_day() -> None:
    morning = BackupEntry("p/a", END.replace(hour=1), verified=True)
    evening = BackupEntry("p/b", END.replace(hour=20), verified=True)
    assert RetentionPolicy(daily=1, weekly=0, monthly=0).select_expired([morning, evening]) == [morning]


@pytest.mark.parametrize(
    ("daily", "weekly", "monthly"),
    [pytest.param(0, 1, 1, id="daily-zero"), pytest.param(1, -1, 0, id="weekly-negative")],
)
def test_invalid_policies_are_rejected(daily: int, weekly: int, monthly: int) -> None:
    with pytest.raises(ValueError, match="retention needs"):
        RetentionPolicy(daily, weekly, monthly)


def test_a_pinned_backup_is_never_expired() -> None:
    """Issue 14 item 7: an old, even unverified, pinned backup survives every policy."""
    backups = history(60, unverified={45})
    old, unverified = backups[0], backups[60 - 1 - 45]
    old.pinned = unverified.pinned = True
    policy = RetentionPolicy(daily=1, weekly=0, monthly=0)
    expired = {b.folder for b in policy.select_expired(backups)}
    assert old.folder not in expired and unverified.folder not in expired
    assert "pinned" in policy.keep_reasons(backups)[old.folder]
    assert len(expired) == 60 - 3  # everything else but the newest


def test_within_one_day_a_pin_keeps_the_earlier_manual_backup() -> None:
    morning = BackupEntry(folder="p/2026-11-23T080000Z", when=END.replace(hour=8), verified=True, pinned=True)
    evening = BackupEntry(folder="p/2026-11-23T200000Z", when=END.replace(hour=20), verified=True)
    assert RetentionPolicy(daily=1, weekly=0, monthly=0).select_expired([morning, evening]) == []


def test_the_restore_cli_says_which_fernet_key_the_restored_db_needs() -> None:
    from airflow_ops.backup.sidecars import fingerprint
    from airflow_ops_tools.restore_backup import fernet_line

    key = "k" * 44
    needed = fingerprint(key)
    assert f"needs the fernet key {needed}" in fernet_line(needed, {})
    assert "matches" in fernet_line(needed, {"AIRFLOW__CORE__FERNET_KEY": f"{key},old"})
    other = fernet_line(needed, {"AIRFLOW__CORE__FERNET_KEY": "x" * 44})
    assert f"is {fingerprint('x' * 44)}: another key" in other
    assert key not in other
    assert fernet_line(None, {}).startswith("unknown")


def test_a_pointer_without_a_logical_date_never_blocks_a_verified_backup() -> None:
    from airflow_ops.backup.pointer import VerifiedBackup

    assert VerifiedBackup(key="x", verified_at="2026-11-23").when is None
    assert VerifiedBackup(key="x", verified_at="2026-11-23", logical_date="not a date").when is None
    assert VerifiedBackup(
        key="x", verified_at="2026-11-23", logical_date="2026-11-23T00:00:00+00:00"
    ).when == (dt.datetime(2026, 11, 23, tzinfo=dt.UTC))


def test_retention_deletes_every_verified_marker_before_any_dump() -> None:
    """Deletes go in batches of 1,000: a run killed between two must not leave a folder that still
    looks verified without its dump (issue 13, kill matrix)."""
    from airflow_ops.backup.retention import markers_first

    keys = [
        f"p/2020-01-0{d}T000000Z/{n}"
        for d in (1, 2)
        for n in ("manifest.json", "metadata.dump", "verified.json")
    ]
    ordered = markers_first(keys)
    assert ordered[:2] == ["p/2020-01-01T000000Z/verified.json", "p/2020-01-02T000000Z/verified.json"]
    assert sorted(ordered) == sorted(keys)


def _verified(bucket: FakeBucket, day: int) -> str:
    from airflow_ops.backup.pointer import mark_verified

    folder = f"p/2026-11-{day:02d}T000000Z"
    bucket.put_object("b", f"{folder}/metadata.dump", b"dump")
    bucket.put_object("b", f"{folder}/manifest.json", b"{}")
    manifest = type(
        "M",
        (),
        {
            "key": f"{folder}/metadata.dump",
            "bucket": "b",
            "dag_id": "d",
            "logical_date": f"2026-11-{day:02d}T00:00:00+00:00",
            "sha256": "0" * 64,
            "size_bytes": 4,
        },
    )()
    mark_verified(bucket, manifest, "p", "2026-11-30T00:00:00+00:00", False)
    return folder


def test_a_rerun_of_the_pointed_date_points_back_at_the_previous_verified_backup() -> None:
    """Re-running the date the pointer names: from before its new dump lands until verify passes,
    the pointer names the previous verified backup, or nothing (issue 13, kill matrix)."""
    from airflow_ops.backup.pointer import read_latest_verified, unpoint_folder

    bucket = FakeBucket()
    first = _verified(bucket, 1)
    second = _verified(bucket, 2)
    assert read_latest_verified(bucket, "b", "p").key == f"{second}/metadata.dump"
    assert unpoint_folder(bucket, "b", "p", first) == f"{second}/metadata.dump"  # not the pointed one
    assert unpoint_folder(bucket, "b", "p", second) == f"{first}/metadata.dump"
    assert read_latest_verified(bucket, "b", "p").key == f"{first}/metadata.dump"
    bucket.delete_object("b", f"{first}/verified.json")
    bucket.put_object("b", "p/latest-verified.json", bucket.objects[f"{second}/verified.json"][0])
    assert unpoint_folder(bucket, "b", "p", second) is None
    assert read_latest_verified(bucket, "b", "p") is None
