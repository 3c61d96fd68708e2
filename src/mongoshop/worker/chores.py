"""Upkeep that runs now and then beside the worker's loops: each round's failure is that
round's, logged, and the next round comes (the supervisor is the second line)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from mongoshop.streams.graceful import StopRequest, raise_if_cancelled

logger = logging.getLogger(__name__)


async def run_every(
    name: str, seconds: float, round: Callable[[], Awaitable[object]], stop: StopRequest
) -> None:
    """Run `round` every `seconds` until `stop` is requested; an exception ends the round,
    never the loop."""
    while not stop.requested:
        raise_if_cancelled()
        try:
            await round()
        except Exception:
            raise_if_cancelled()
            logger.exception("%s: a round failed; the next one follows", name)
        await stop.sleep(seconds)


class Chore:
    """`round` every `seconds`, as a loop the `Supervisor` runs (`run`, `stop`)."""

    def __init__(self, name: str, seconds: float, round: Callable[[], Awaitable[object]]) -> None:
        self.name = name
        self.seconds = seconds
        self.round = round
        self.stop = StopRequest()

    async def run(self) -> None:
        await run_every(self.name, self.seconds, self.round, self.stop)
