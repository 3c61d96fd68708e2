"""One change stream per collection, shared by what reacts to its changes.

The mail and the webhooks both react to new users and new orders. Each
reaction opening its own stream made the server read the collection's changes
once per reaction, and look each changed document up once per reaction too;
here a collection has one stream (`shared_stream`), its events are read into
typed changes once (`Change.of`), and each reaction gets the same changes.

One reaction's failure does not deprive another of an event: every reaction
runs, then the first failure is raised, so the consumer retries the event
(each reaction is idempotent: the outbox and the deliveries are keyed) and, if
it keeps failing, skips it having given every other reaction its chance.
A database outage is raised at once: every reaction would meet it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic

from pymongo.asynchronous.collection import AsyncCollection

from mongoshop.models.common import Document
from mongoshop.observability.tracing import carrier, span, tracing_on
from mongoshop.streams.changes import Change, ModelT
from mongoshop.worker.graceful import raise_if_cancelled
from mongoshop.worker.streams import StreamSpec, passing


@dataclass(frozen=True)
class Reaction(Generic[ModelT]):
    """What one consumer does with a batch of a collection's changes (`handle`, one write
    for all of them where it can), and how it catches up after lost history."""

    handle: Callable[[Sequence[Change[ModelT]]], Awaitable[object]]
    reconcile: Callable[[datetime], Awaitable[int]] | None = None


async def _each(reactions: Sequence[Reaction[ModelT]], changes: list[Change[ModelT]]) -> None:
    failure: Exception | None = None
    for reaction in reactions:
        try:
            await reaction.handle(changes)
        except Exception as exc:
            if passing(exc):
                raise
            raise_if_cancelled()
            failure = failure or exc
    if failure is not None:
        raise failure


def _traced(stream: str, change: Change[ModelT]) -> Change[ModelT]:
    """A change whose document carries its request's trace, with the span of the change
    event in that trace (from the commit to now: how long the worker took to read it),
    and that span's context in place of the request's, for what the change causes."""
    if change.trace is None or not tracing_on():
        return change
    attributes = {
        "mongoshop.stream": stream,
        "mongoshop.change.operation": change.operation,
        "mongoshop.change.key": str(change.key),
    }
    with span("change event", parent=change.trace, attributes=attributes, start=change.at):
        return replace(change, trace=carrier())


def shared_stream(
    name: str,
    collection: AsyncCollection[Document],
    model: type[ModelT],
    reactions: Sequence[Reaction[ModelT]],
    *,
    operations: tuple[str, ...],
    match: Document | None = None,
    full_document: str | None = None,
    full_document_before_change: str | None = None,
    formerly: tuple[str, ...] = (),
) -> StreamSpec:
    """The checkpointed stream of `collection` whose events every one of `reactions` gets,
    read as `model` once. `operations` and `match` must let through every event any of
    them needs (each reaction ignores the others' events)."""

    async def batch(events: Sequence[Mapping[str, Any]]) -> None:
        await _each(reactions, [_traced(name, Change.of(event, model)) for event in events])

    async def handler(event: Mapping[str, Any]) -> None:
        await _each(reactions, [_traced(name, Change.of(event, model))])

    async def reconcile(since: datetime) -> int:
        total = 0
        for reaction in reactions:
            if reaction.reconcile is not None:
                total += await reaction.reconcile(since)
        return total

    return StreamSpec(
        name=name,
        collection=collection,
        operations=operations,
        match=match,
        full_document=full_document,
        full_document_before_change=full_document_before_change,
        handler=handler,
        batch=batch,
        reconcile=reconcile if any(r.reconcile for r in reactions) else None,
        formerly=formerly,
    )
