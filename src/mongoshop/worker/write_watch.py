"""Writes that hang, noticed, reported and, on the embedded server this process runs, ended.

``ping`` goes on answering while a collection's writes are stuck: after the
flash sale of docs/embedded-database.md it answered in a millisecond while
every write to ``products`` waited. So every `every` seconds each collection
gets a write that changes nothing, an update by an ``_id`` no document has
(`AsyncRepository.probe_write`): it goes through the collection's write path
(its locks, a storage transaction) on MongoDB and on the embedded server
alike, at a cost that does not depend on the collection. A collection whose
probes have failed (out of `timeout` or in error) for `stall_seconds` is
stalled: `/health` answers 503 and names it, `/metrics` shows it.

When this process started the embedded server, a stall is ended by restarting
it (`restart`) rather than answered with 503 for ever: it runs with
``--sync-on-commit``, so every acknowledged write survives, and clients
reconnect on their own. At most one restart per `RESTART_GAP`: a stall that a
restart does not end is reported, not restarted in a loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pymongo

from mongoshop._async.repositories.base import AsyncRepository
from mongoshop._async.shop import AsyncShop
from mongoshop.db.embedded import EmbeddedServer
from mongoshop.worker.chores import run_every
from mongoshop.worker.graceful import StopRequest, raise_if_cancelled

logger = logging.getLogger(__name__)

RESTART_GAP = 300.0
"""Seconds between two restarts of the embedded server, at the least."""


class WriteWatch:
    def __init__(
        self,
        repositories: Sequence[AsyncRepository[Any]],
        *,
        every: float,
        timeout: float,
        stall_seconds: float,
        restart: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`restart`: ends a stall by restarting the database (only where this process
        started the embedded server); None: a stall is reported only."""
        self.repositories = list(repositories)
        self.every = every
        self.timeout = timeout
        self.stall_seconds = stall_seconds
        self.restart = restart
        self.clock = clock
        self.stop = StopRequest()
        self.seconds: dict[str, float | None] = {}
        """Each collection's last probe: how long it took, None when it failed."""
        self.failing_since: dict[str, float] = {}
        self.restarts = 0
        self._restarted_at: float | None = None

    @property
    def checked(self) -> bool:
        """Whether every collection has been probed at least once."""
        return len(self.seconds) == len(self.repositories)

    def stalled(self) -> list[str]:
        """The collections whose writes have failed for `stall_seconds` and more."""
        now = self.clock()
        return sorted(
            name for name, since in self.failing_since.items() if now - since >= self.stall_seconds
        )

    async def run(self) -> None:
        """Probe until stopped; a failure of one round is logged and the next one comes."""
        # A round may restart the embedded server (its stop alone may take 20 s): it gets
        # as long as the gap between two restarts, its probes their own timeout.
        await run_every(
            "the write watch", self.every, self.check, self.stop, round_seconds=RESTART_GAP
        )

    async def check(self) -> list[str]:
        """One round: probe every collection at once, then end a stall if this process can.

        Returns the stalled collections (after a restart, none until probed again)."""
        await asyncio.gather(*(self._probe(repository) for repository in self.repositories))
        stalled = self.stalled()
        if stalled:
            logger.error(
                "writes to %s have failed for %.0f s or more",
                ", ".join(stalled),
                self.stall_seconds,
            )
            if await self._restart_once():
                return []
        return stalled

    async def _probe(self, repository: AsyncRepository[Any]) -> None:
        name = repository.collection_name
        started = self.clock()
        try:
            with pymongo.timeout(self.timeout):
                await repository.probe_write()
        except Exception as exc:  # any failure is this probe's, never the round's
            raise_if_cancelled()
            self.seconds[name] = None
            if name not in self.failing_since:
                self.failing_since[name] = started
                logger.warning("a write to %s did not complete: %s", name, type(exc).__name__)
            return
        self.seconds[name] = self.clock() - started
        if self.failing_since.pop(name, None) is not None:
            logger.info("writes to %s complete again", name)

    async def _restart_once(self) -> bool:
        if self.restart is None:
            return False
        now = self.clock()
        if self._restarted_at is not None and now - self._restarted_at < RESTART_GAP:
            return False
        self._restarted_at = now
        logger.error("restarting the embedded database to end the stall")
        await self.restart()
        self.restarts += 1
        self.failing_since.clear()
        logger.warning("the embedded database was restarted")
        return True


PROBE_TIMEOUT = 2.0
"""Seconds a probe may take before it counts as failed."""


def write_watch(shop: AsyncShop, embedded: EmbeddedServer | None = None) -> WriteWatch:
    """The watch of every collection of `shop`, as its settings say; it restarts `embedded`
    when this process started it."""
    settings = shop.settings
    restart: Callable[[], Awaitable[None]] | None = None
    if embedded is not None and embedded.owner:
        server = embedded

        async def restart() -> None:
            await asyncio.to_thread(server.restart)

    every = settings.write_probe_seconds
    return WriteWatch(
        shop.repositories.all(),
        every=every,
        timeout=min(PROBE_TIMEOUT, every) if every else PROBE_TIMEOUT,
        stall_seconds=settings.write_stall_seconds,
        restart=restart,
    )
