"""Background loops that are restarted when they end unexpectedly, and seen to be alive.

Each loop (a change stream, the outbox sender, the webhook deliverer, the write
watch) handles its own items' failures: an exception while handling one item is
that item's failed attempt. This is the second line: a loop that still ends
with an exception, or returns without being asked to stop, is logged and
started again after a capped back-off, and `/metrics` shows whether each loop
runs (`mongoshop_worker_loop_up`) and how often it was restarted
(`mongoshop_worker_loop_restarts`). Without it, one unforeseen exception
ended a loop silently and for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mongoshop.worker.graceful import StopRequest, raise_if_cancelled

logger = logging.getLogger(__name__)

FIRST_DELAY = 1.0
"""Seconds before the first restart of a loop that failed; doubled each time, capped."""
MAX_DELAY = 30.0


@dataclass
class LoopState:
    """What `/metrics` reads of one supervised loop."""

    name: str
    up: bool = False
    restarts: int = 0


class Supervisor:
    """Runs loops as tasks, each restarted when it ends unexpectedly."""

    def __init__(self, *, first_delay: float = FIRST_DELAY, max_delay: float = MAX_DELAY) -> None:
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.loops: list[LoopState] = []

    def start(
        self, name: str, run: Callable[[], Awaitable[None]], stop: StopRequest
    ) -> asyncio.Task[None]:
        """Start `run` (a loop that returns once `stop` is requested) under supervision."""
        state = LoopState(name)
        self.loops.append(state)
        return asyncio.create_task(self._supervise(state, run, stop), name=name)

    async def _supervise(
        self, state: LoopState, run: Callable[[], Awaitable[None]], stop: StopRequest
    ) -> None:
        delay = self.first_delay
        while not stop.requested:
            state.up = True
            started = asyncio.get_running_loop().time()
            try:
                await run()
            except asyncio.CancelledError:
                state.up = False
                raise
            except Exception:
                raise_if_cancelled()
                logger.exception("%s ended unexpectedly; restarting in %.0f s", state.name, delay)
            else:
                if stop.requested:
                    break
                logger.error("%s returned unasked; restarting in %.0f s", state.name, delay)
            state.up = False
            state.restarts += 1
            if asyncio.get_running_loop().time() - started > self.max_delay:
                delay = self.first_delay  # it ran well for a while: a new failure, not a loop
            await stop.sleep(delay)
            delay = min(delay * 2, self.max_delay)
        state.up = False
