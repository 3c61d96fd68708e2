"""A running process that learns its code is older than the database.

`check_applied` refuses, at start-up, a database whose applied migrations this
code does not know. A process started before a newer version migrated the
database would otherwise go on for days writing documents of the old shape
(issue 21 #10). So every `every` seconds the API and the worker read the
applied migrations again (one small read of `mongoshop_schema`): once a newer
one is there, `/health` answers 503 naming it, so that a load balancer takes
this process out and its supervisor replaces it with the new code, and
``mongoshop worker`` exits (code 3) instead of handling events with old rules.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from mongoshop._async.repositories.schema import AsyncMigrationRecords
from mongoshop._async.shop import AsyncShop
from mongoshop.errors import ConfigurationError
from mongoshop.migrations import MIGRATIONS
from mongoshop.migrations.runner import check_applied
from mongoshop.worker.chores import run_every
from mongoshop.worker.graceful import StopRequest

logger = logging.getLogger(__name__)

SCHEMA_CHECK_SECONDS = 60.0
"""How often a running process checks that no newer migration was applied."""


class SchemaWatch:
    def __init__(
        self,
        applied: Callable[[], Awaitable[Sequence[Mapping[str, Any]]]],
        check: Callable[[Sequence[Mapping[str, Any]]], None],
        *,
        every: float = SCHEMA_CHECK_SECONDS,
        on_outdated: Callable[[str], None] | None = None,
    ) -> None:
        """`applied`: reads the applied migrations; `check`: raises `ConfigurationError`
        when this code must not run on them; `on_outdated`: told once, with why."""
        self.applied = applied
        self.check = check
        self.every = every
        self.on_outdated = on_outdated
        self.stop = StopRequest()
        self.outdated: str | None = None
        """Why this process's code must not run on the database any more; None while it may."""

    async def run(self) -> None:
        await run_every("the schema watch", self.every, self.check_now, self.stop)

    async def check_now(self) -> str | None:
        """One round: why this code is outdated, or None. Once outdated, it stays so."""
        if self.outdated is not None:
            return self.outdated
        try:
            self.check(await self.applied())
        except ConfigurationError as exc:
            self.outdated = str(exc)
            logger.error("this process's code is outdated: %s", self.outdated)
            if self.on_outdated is not None:
                self.on_outdated(self.outdated)
        return self.outdated


def schema_watch(
    shop: AsyncShop, *, on_outdated: Callable[[str], None] | None = None
) -> SchemaWatch:
    """The watch of `shop`'s applied migrations against the ones this code knows."""
    records = AsyncMigrationRecords(shop.repositories.schema)

    def check(applied: Sequence[Mapping[str, Any]]) -> None:
        check_applied(applied, MIGRATIONS)

    return SchemaWatch(records.applied, check, every=SCHEMA_CHECK_SECONDS, on_outdated=on_outdated)
