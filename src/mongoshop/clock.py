"""Time, always aware UTC and at the database's millisecond precision."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeAlias


def utcnow() -> datetime:
    """Now in UTC, truncated to milliseconds so a value read back equals the one written."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


Clock: TypeAlias = Callable[[], datetime]
"""What tells the time: `utcnow`, or a test's clock that it moves by hand."""


def start_of_month(moment: datetime) -> datetime:
    """Midnight UTC on the first day of `moment`'s month."""
    moment = moment.astimezone(UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
