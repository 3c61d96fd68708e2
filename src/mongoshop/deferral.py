"""Inserts held back to the end of a shared transaction, then sent together; no I/O here.

A batch of orders (`mongoshop._async.transactions`) runs each buyer's callback
in turn in one transaction: each callback's round trips are in series, one after
the other's. Its inserts (the order, the ledger entry) need nothing back from
the server but an `_id`, which the driver makes anyway: held here while the
callbacks run, they are sent as one ``insert_many`` per collection before the
commit, each collection's in the order they were made. A refusal among them (a reused
Idempotency-Key) fails the batch as a whole: its members then run alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class HeldInserts:
    """The inserts of one transaction's callbacks (its `session`), in order."""

    session: object
    pending: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)

    def add(self, collection: Any, document: dict[str, Any]) -> None:
        self.pending.append((collection, document))

    def by_collection(self) -> list[tuple[Any, list[dict[str, Any]]]]:
        """The held documents of each collection, in the order they came (the collections
        in the order of their first insert): one ``insert_many`` each. Inserts into
        different collections commit together, so their relative order does not matter."""
        grouped: dict[int, tuple[Any, list[dict[str, Any]]]] = {}
        for collection, document in self.pending:
            grouped.setdefault(id(collection), (collection, []))[1].append(document)
        return list(grouped.values())


_HELD: ContextVar[HeldInserts | None] = ContextVar("mongoshop_held_inserts", default=None)


@contextmanager
def holding_inserts(session: object) -> Iterator[HeldInserts]:
    """Within: inserts through `session` are held (`held_for`), not sent."""
    held = HeldInserts(session)
    token = _HELD.set(held)
    try:
        yield held
    finally:
        _HELD.reset(token)


def held_for(session: object) -> HeldInserts | None:
    """Where an insert through `session` is to be held, if it is."""
    held = _HELD.get()
    return held if held is not None and session is not None and held.session is session else None
