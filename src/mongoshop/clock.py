"""Time, always aware UTC and at the database's millisecond precision."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now in UTC, truncated to milliseconds so a value read back equals the one written."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def start_of_month(moment: datetime) -> datetime:
    """Midnight UTC on the first day of `moment`'s month."""
    moment = moment.astimezone(UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
