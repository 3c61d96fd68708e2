"""The wait before a retry, one rule for every queue (the mail outbox, the webhooks)."""

from __future__ import annotations

import random


def jittered_backoff(
    attempts: int, base: float, cap: float, retry_after: float | None = None
) -> float:
    """Seconds before attempt `attempts + 1`: exponential from `base`, capped, with jitter.

    "Equal jitter": half the delay is kept, half is random, so items that
    failed together (a mail server or an endpoint down) do not all come back
    at once, and none comes back sooner than half its delay. A peer's
    ``Retry-After`` is honoured up to the cap: the next attempt is not before it.
    """
    delay = min(base * 2 ** min(max(attempts - 1, 0), 30), cap)
    delay = delay / 2 + random.uniform(0, delay / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return float(delay)
