"""The webhook attempts one worker has in flight, per endpoint (a subscription's URL).

The worker's deliverers (MONGOSHOP_WEBHOOK_DELIVERERS) are its pool of attempts;
this bounds how many of them one endpoint may hold at once
(MONGOSHOP_WEBHOOK_PER_SUBSCRIPTION; subscriptions to the same URL share it): a slow
endpoint with a deep backlog then
takes its share of the pool, never all of it, and a receiver is not sent more
requests at once than that by one worker. One event loop: no lock is needed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable


class InFlight:
    def __init__(self, per_subscription: int, total: int | None = None) -> None:
        """`total`: the attempts the worker makes at once, whatever their subscriptions
        (MONGOSHOP_WEBHOOK_DELIVERERS: a deliverer serves its batch's subscriptions at
        the same time, so without it a worker could make deliverers x batch at once)."""
        self.per_subscription = per_subscription
        self.total = total
        self._attempts: Counter[Hashable] = Counter()

    def enter(self, subscription: Hashable) -> bool:
        """Take a place for an attempt to `subscription`; False when it holds its share,
        or the worker has `total` attempts in flight."""
        if self._attempts[subscription] >= self.per_subscription:
            return False
        if self.total is not None and self._attempts.total() >= self.total:
            return False
        self._attempts[subscription] += 1
        return True

    def leave(self, subscription: Hashable) -> None:
        """The attempt `enter` allowed is over (made, recorded, or given up)."""
        self._attempts[subscription] -= 1
        if self._attempts[subscription] <= 0:
            del self._attempts[subscription]

    def held(self, subscription: Hashable) -> int:
        return self._attempts[subscription]
