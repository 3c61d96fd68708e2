"""Time: aware UTC at millisecond precision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from mongoshop.clock import start_of_month, utcnow


def test_utcnow_is_aware_and_at_millisecond_precision() -> None:
    now = utcnow()
    assert now.tzinfo is UTC
    assert now.microsecond % 1000 == 0


def test_start_of_month_is_midnight_utc_on_the_first() -> None:
    paris_evening = datetime(2026, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    # 00:30 in UTC+2 on 1 March is still February in UTC.
    assert start_of_month(paris_evening) == datetime(2026, 2, 1, tzinfo=UTC)
