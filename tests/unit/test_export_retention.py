"""Retention of exports: keep-last-N plus daily/weekly/monthly."""

from __future__ import annotations

import datetime as dt

import pytest

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
