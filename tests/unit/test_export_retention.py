"""Retention of exports: keep-last-N plus daily/weekly/monthly."""

from __future__ import annotations

import datetime as dt

from airflow_ops.retention import GfsPolicy

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
