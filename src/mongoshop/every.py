"""Now and then: a loop's chore that runs at most once per period."""

from __future__ import annotations

from datetime import timedelta

from mongoshop.clock import Clock, utcnow


class Every:
    """`due()` is true once per `period` (the first call included), on `clock`."""

    def __init__(self, period: timedelta, clock: Clock = utcnow) -> None:
        self.period = period
        self.clock = clock
        self._last = clock() - period

    def due(self) -> bool:
        now = self.clock()
        if now - self._last < self.period:
            return False
        self._last = now
        return True
