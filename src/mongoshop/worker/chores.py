"""Upkeep that runs now and then beside the worker's loops: each round's failure is that
round's, logged, and the next round comes (the supervisor is the second line)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from mongoshop.deadlines import deadline
from mongoshop.worker.graceful import StopRequest, raise_if_cancelled

logger = logging.getLogger(__name__)


ROUND_SECONDS = 30.0
"""The most one round may take: a database that stops answering (or anything else that
hangs) ends the round, not the loop."""


async def run_every(
    name: str,
    seconds: float,
    round: Callable[[], Awaitable[object]],
    stop: StopRequest,
    *,
    round_seconds: float = ROUND_SECONDS,
) -> None:
    """Run `round` every `seconds` until `stop` is requested, each within `round_seconds`
    (its database commands too: `mongoshop.deadlines`); an exception or a round that
    runs out of time ends the round, never the loop."""
    while not stop.requested:
        raise_if_cancelled()
        try:
            async with asyncio.timeout(round_seconds):
                with deadline(round_seconds):
                    await round()
        except Exception:
            raise_if_cancelled()
            logger.exception("%s: a round failed; the next one follows", name)
        await stop.sleep(seconds)


class Chore:
    """`round` every `seconds`, as a loop the `Supervisor` runs (`run`, `stop`)."""

    def __init__(
        self,
        name: str,
        seconds: float,
        round: Callable[[], Awaitable[object]],
        *,
        round_seconds: float = ROUND_SECONDS,
    ) -> None:
        self.name = name
        self.seconds = seconds
        self.round = round
        self.round_seconds = round_seconds
        self.stop = StopRequest()

    async def run(self) -> None:
        await run_every(
            self.name, self.seconds, self.round, self.stop, round_seconds=self.round_seconds
        )
