"""Stopping background loops at a safe point instead of cancelling them mid-work.

A cancelled change-stream handler or mail send is safe (at-least-once, leases),
but it costs work again after a restart: the event is delivered again, the
message waits for its lease to end and may be sent twice. So a stop is first a
request that each loop honours between two units of work; only a loop that
does not finish within the grace period is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0
"""How long `stop_loops` waits for loops to finish their current unit of work."""


def raise_if_cancelled() -> None:
    """Re-raise a cancellation that something below swallowed.

    On Python 3.11, ``asyncio.wait_for`` (which PyMongo's async network layer
    uses for its timeouts) can lose a ``cancel()`` that lands as its inner await
    completes, or turn it into a timeout error that a retry loop then catches as
    an outage: the loop would never end. The task still counts the request
    (``Task.cancelling``), so loops check it where they catch and retry.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class StopRequest:
    """Set once to ask a loop to stop; its sleeps end early when it is."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def request(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds`, or less if a stop is requested meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        raise_if_cancelled()


async def stop_loops(
    tasks: Sequence[asyncio.Task[None]],
    requests: Sequence[StopRequest],
    grace: float = STOP_GRACE_SECONDS,
) -> int:
    """Request a stop, wait up to `grace` seconds, cancel what is left; how many were cancelled."""
    for stop in requests:
        stop.request()
    pending: set[asyncio.Task[None]] = set()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        logger.warning("%s did not stop within %.0f s: cancelled", task.get_name(), grace)
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return len(pending)
