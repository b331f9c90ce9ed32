"""Retention of exports: keep-last-N plus daily/weekly/monthly."""

from __future__ import annotations

import datetime as dt

import pytest

from airflow_ops.export.retention import deletion_keys, expired_exports
from airflow_ops.export.store import ExportRef
from airflow_ops.retention import GfsPolicy
from tests.unit.fake_s3 import FakeBucket

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _days(n: int) -> list[dt.datetime]:
    return [START + dt.timedelta(days=i) for i in range(n)]


def _ident(d: dt.datetime) -> dt.datetime:
    return d


def test_keep_last_only_expires_the_oldest() -> None:
    items = _days(10)
    expired = GfsPolicy(keep_last=3, keep_daily=0, keep_weekly=0, keep_monthly=0).select_expired(
        items, _ident
    )
    assert expired == items[:7]


def test_nothing_expires_below_the_limits() -> None:
    assert GfsPolicy().select_expired(_days(5), _ident) == []


def test_monthly_keeps_the_newest_export_of_each_month() -> None:
    items = _days(90)
    policy = GfsPolicy(keep_last=1, keep_daily=0, keep_weekly=0, keep_monthly=3)
    kept = sorted(policy.select_kept(items, _ident))
    assert kept == [
        dt.datetime(2026, 1, 31, tzinfo=dt.UTC),
        dt.datetime(2026, 2, 28, tzinfo=dt.UTC),
        items[-1],
    ]


def test_weekly_keeps_one_per_iso_week() -> None:
    items = _days(28)
    kept = GfsPolicy(keep_last=1, keep_daily=0, keep_weekly=4, keep_monthly=0).select_kept(items, _ident)
    assert len({d.isocalendar()[:2] for d in kept}) == len(kept) == 4


def test_several_exports_a_day_keep_one_per_day() -> None:
    items = [START + dt.timedelta(hours=6 * i) for i in range(12)]
    kept = GfsPolicy(keep_last=1, keep_daily=3, keep_weekly=0, keep_monthly=0).select_kept(items, _ident)
    assert sorted(kept) == [items[3], items[7], items[11]]


def test_expired_and_kept_partition_the_input() -> None:
    items = _days(400)
    policy = GfsPolicy()
    kept, expired = policy.select_kept(items, _ident), policy.select_expired(items, _ident)
    assert sorted(kept + expired) == items


# --- Issue 23: the period keys, worked out on the calendar by hand ---


def _utc(y: int, m: int, d: int, h: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, tzinfo=dt.UTC)


def test_monthly_buckets_are_year_and_month_so_24_months_keep_24_backups() -> None:
    firsts = [_utc(y, m, 1) for y in (2025, 2026) for m in range(1, 13)]
    policy = GfsPolicy(keep_last=0, keep_daily=0, keep_weekly=0, keep_monthly=24)
    assert policy.select_kept(firsts, _ident) == firsts[::-1]
    assert policy.select_expired(firsts, _ident) == []


def test_thirteen_months_reach_back_into_the_previous_year() -> None:
    firsts = [_utc(y, m, 1) for y in (2025, 2026) for m in range(1, 13)]
    policy = GfsPolicy(keep_last=0, keep_daily=0, keep_weekly=0, keep_monthly=13)
    assert policy.select_expired(firsts, _ident) == [_utc(2025, m, 1) for m in range(1, 12)]


def test_weekly_buckets_are_iso_weeks_across_the_new_year() -> None:
    """2026-01-01 is a Thursday: ISO week 2026-W01 runs from Monday 2025-12-29 to Sunday 2026-01-04."""
    items = [_utc(2025, 12, 29), _utc(2026, 1, 4), _utc(2026, 1, 5), _utc(2026, 1, 11), _utc(2026, 1, 12)]
    policy = GfsPolicy(keep_last=0, keep_daily=0, keep_weekly=3, keep_monthly=0)
    assert policy.select_kept(items, _ident) == [_utc(2026, 1, 12), _utc(2026, 1, 11), _utc(2026, 1, 4)]
    assert policy.select_expired(items, _ident) == [_utc(2025, 12, 29), _utc(2026, 1, 5)]


def test_sixty_mondays_are_sixty_weeks() -> None:
    mondays = [_utc(2025, 12, 1) + dt.timedelta(weeks=i) for i in range(60)]
    policy = GfsPolicy(keep_last=0, keep_daily=0, keep_weekly=60, keep_monthly=0)
    assert policy.select_expired(mondays, _ident) == []
    assert GfsPolicy(keep_last=0, keep_daily=0, keep_weekly=59, keep_monthly=0).select_expired(
        mondays, _ident
    ) == [mondays[0]]


def test_daily_buckets_are_calendar_dates_not_days_of_the_month() -> None:
    items = [_utc(2026, 1, 5, 10), _utc(2026, 2, 5, 10), _utc(2026, 2, 5, 20)]
    policy = GfsPolicy(keep_last=0, keep_daily=2, keep_weekly=0, keep_monthly=0)
    assert policy.select_kept(items, _ident) == [_utc(2026, 2, 5, 20), _utc(2026, 1, 5, 10)]


def test_each_kept_item_says_why() -> None:
    items = [_utc(2026, 3, 9), _utc(2026, 3, 10), _utc(2026, 3, 11)]  # Mon..Wed of one week and month
    policy = GfsPolicy(keep_last=1, keep_daily=2, keep_weekly=1, keep_monthly=1)
    assert policy.reasons(items, _ident) == [[], ["daily"], ["last", "daily", "weekly", "monthly"]]


def test_keep_last_keeps_exactly_that_many_of_one_day() -> None:
    items = [_utc(2026, 3, 9, h) for h in range(6)]
    policy = GfsPolicy(keep_last=4, keep_daily=0, keep_weekly=0, keep_monthly=0)
    assert policy.select_expired(items, _ident) == items[:2]


def test_a_limit_of_n_periods_keeps_n_not_n_plus_one() -> None:
    items = _days(10)
    policy = GfsPolicy(keep_last=0, keep_daily=4, keep_weekly=0, keep_monthly=0)
    assert policy.select_expired(items, _ident) == items[:6]


def test_kept_come_newest_first_and_expired_oldest_first_whatever_the_input_order() -> None:
    a, b, c, d = _days(4)
    policy = GfsPolicy(keep_last=2, keep_daily=0, keep_weekly=0, keep_monthly=0)
    assert policy.select_kept([c, a, d, b], _ident) == [d, c]
    assert policy.select_expired([c, a, d, b], _ident) == [a, b]


@pytest.mark.parametrize("field", ["keep_last", "keep_daily", "keep_weekly", "keep_monthly"])
def test_a_negative_count_is_refused_and_zero_is_allowed(field: str) -> None:
    with pytest.raises(ValueError, match=r"^retention counts must be >= 0 \(got GfsPolicy\("):
        GfsPolicy(**{field: -1})
    assert getattr(GfsPolicy(**{field: 0}), field) == 0


def test_items_are_ordered_by_their_date_not_by_themselves() -> None:
    """Export names sort the other way round from their dates here: the order must follow ``when``."""
    dates = {"c-oldest": _utc(2026, 1, 1), "b-middle": _utc(2026, 1, 2), "a-newest": _utc(2026, 1, 3)}
    policy = GfsPolicy(keep_last=2, keep_daily=0, keep_weekly=0, keep_monthly=0)
    names = ["b-middle", "c-oldest", "a-newest"]
    assert policy.select_kept(names, dates.__getitem__) == ["a-newest", "b-middle"]
    three = ["b-middle", "c-oldest", "a-newest", "d-older"]
    dates["d-older"] = _utc(2025, 12, 31)
    assert policy.select_expired(three, dates.__getitem__) == ["d-older", "c-oldest"]


# --- Issue 23: the export kind's own rules on top of the policy (export/retention.py) ---


def _ref(day: int) -> ExportRef:
    when = _utc(2026, 3, day)
    return ExportRef(f"ops/d/2026/03/config-export-202603{day:02d}T000000Z.aopscx", when)


#: Five daily exports, 1 to 5 March 2026, given newest first: keep_last=2 keeps the 4th and the 5th.
REFS = [_ref(d) for d in (5, 3, 1, 4, 2)]
LAST_TWO = GfsPolicy(keep_last=2, keep_daily=0, keep_weekly=0, keep_monthly=0)


def test_an_uploading_run_expires_all_but_the_policys_picks_oldest_first() -> None:
    this = _ref(5).object_key
    assert expired_exports(REFS, LAST_TWO, this_key=this, uploaded=True, dry_run=False) == (
        [_ref(1), _ref(2), _ref(3)],
        None,
    )


def test_the_export_this_run_wrote_is_never_expired_whatever_its_date() -> None:
    """A backfill of 2 March: the policy would expire it (it is not among the two newest); it stays."""
    this = _ref(2).object_key
    assert expired_exports(REFS, LAST_TWO, this_key=this, uploaded=True, dry_run=False) == (
        [_ref(1), _ref(3)],
        None,
    )


def test_a_run_that_uploaded_nothing_deletes_nothing() -> None:
    this = _ref(5).object_key
    assert expired_exports(REFS, LAST_TWO, this_key=this, uploaded=False, dry_run=False) == (
        [],
        "this run uploaded nothing, so nothing is deleted",
    )


def test_a_dry_run_reports_what_would_go_though_it_uploaded_nothing() -> None:
    this = _ref(3).object_key  # the key the dry run would have written
    assert expired_exports(REFS, LAST_TWO, this_key=this, uploaded=False, dry_run=True) == (
        [_ref(1), _ref(2)],
        None,
    )
    assert expired_exports(REFS, LAST_TWO, this_key=this, uploaded=True, dry_run=True) == (
        [_ref(1), _ref(2)],
        None,
    )


def test_no_exports_expire_nothing() -> None:
    assert expired_exports([], LAST_TWO, this_key="k", uploaded=True, dry_run=False) == ([], None)


def test_every_manifest_is_deleted_before_any_object() -> None:
    a, b = _ref(1), _ref(2)
    assert deletion_keys([a, b]) == [
        "ops/d/2026/03/config-export-20260301T000000Z.aopscx.manifest.json",
        "ops/d/2026/03/config-export-20260302T000000Z.aopscx.manifest.json",
        "ops/d/2026/03/config-export-20260301T000000Z.aopscx",
        "ops/d/2026/03/config-export-20260302T000000Z.aopscx",
    ]
    assert deletion_keys([]) == []


def _stored(bucket: FakeBucket, day: int) -> str:
    key = f"ops/d/2026/03/config-export-202603{day:02d}T000000Z.aopscx"
    bucket.put_object(Bucket="exports", Key=key, Body=b"x")
    bucket.put_object(Bucket="exports", Key=key + ".manifest.json", Body=b"{}")
    return key


@pytest.mark.parametrize(("uploaded", "dry_run"), [(True, False), (False, False), (False, True)])
def test_the_retention_task_deletes_what_the_rules_expire_manifests_first(
    monkeypatch: pytest.MonkeyPatch, uploaded: bool, dry_run: bool
) -> None:
    """Four exports, 1 to 4 March, keep_last=2 and nothing else; this run wrote 1 March (a backfill)."""
    from airflow_ops import connections
    from airflow_ops.config import parse_config
    from airflow_ops.kinds.config_export import tasks
    from airflow_ops.kinds.config_export.schema import ConfigExportConfig
    from tests.runs import make_run

    bucket = FakeBucket("exports")
    keys = [_stored(bucket, d) for d in (1, 2, 3, 4)]
    bucket.put_object(Bucket="exports", Key="ops/d/2026/03/config-export-20260305T000000Z.aopscx", Body=b"x")
    monkeypatch.setattr(connections, "s3_client", lambda conn_id: bucket)
    cfg = parse_config(
        {
            "kind": "config_export",
            "dag_id": "d",
            "bucket": "exports",
            "prefix": "ops",
            "retention": {"keep_last": 2, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0},
        },
        ConfigExportConfig,
    )
    assert isinstance(cfg, ConfigExportConfig)
    run = make_run("config_export", dag_id="d", params={"dry_run": dry_run})
    result = tasks.retention(cfg, run, {"object_key": keys[0], "uploaded": uploaded})
    # 5 March has no manifest: not a complete export, never counted nor deleted.
    assert result["exports"] == 4
    if not uploaded and not dry_run:
        assert result == {
            "exports": 4,
            "expired": [],
            "deleted": 0,
            "dry_run": False,
            "skipped": "this run uploaded nothing, so nothing is deleted",
        }
        assert bucket.deleted == []
        return
    assert result["expired"] == [keys[1]]  # 3 and 4 March are the two newest; 1 March is this run's
    if dry_run:
        assert (result["deleted"], bucket.deleted) == (0, [])
    else:
        assert result["deleted"] == 1
        assert bucket.deleted == [keys[1] + ".manifest.json", keys[1]]
        assert keys[1] not in bucket.objects and keys[0] in bucket.objects
