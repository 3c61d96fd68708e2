"""One stream per collection, shared by the mail and the webhooks: each reaction gets
every event, whatever another one does with it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from pymongo.errors import AutoReconnect

from mongoshop.models.checkpoints import Checkpoint
from mongoshop.streams.changes import Change
from mongoshop.worker.reactions import Reaction, shared_stream

AT = datetime(2026, 12, 4, tzinfo=UTC)


class Recorder:
    """A reaction that records what it was given, and fails with `error` when told to."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.seen: list[list[Any]] = []

    async def handle(self, changes: Sequence[Change[Checkpoint]]) -> int:
        self.seen.append([change.key for change in changes])
        if self.error is not None:
            raise self.error
        return len(changes)


def event(key: str, *, token: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "_id": {"_data": key},
        "operationType": "insert",
        "documentKey": {"_id": key},
        "fullDocument": {"_id": key, "resume_token": token or {}, "updated_at": AT},
        "wallTime": AT,
    }


def stream(*recorders: Recorder) -> Any:
    return shared_stream(
        "t",
        None,  # type: ignore[arg-type]
        Checkpoint,
        [Reaction[Checkpoint](recorder.handle) for recorder in recorders],
        operations=("insert",),
    )


async def test_each_reaction_gets_the_events_read_once_as_the_model() -> None:
    mail, hooks = Recorder(), Recorder()
    spec = stream(mail, hooks)
    await spec.batch([event("a"), event("b")])
    assert mail.seen == hooks.seen == [["a", "b"]]


async def test_a_failing_reaction_does_not_deprive_the_next_one_and_the_failure_is_raised() -> None:
    """The consumer then retries the event (each reaction is idempotent) and finally skips
    it: the webhooks got it though the mail could not take it."""
    mail, hooks = Recorder(ValueError("no buyer")), Recorder()
    spec = stream(mail, hooks)
    with pytest.raises(ValueError, match="no buyer"):
        await spec.handler(event("a"))
    assert hooks.seen == [["a"]]
    with pytest.raises(ValueError, match="no buyer"):
        await spec.batch([event("a"), event("b")])
    assert hooks.seen == [["a"], ["a", "b"]]


async def test_an_outage_stops_at_once() -> None:
    """Every reaction would meet it: the consumer waits for the database and re-reads."""
    mail, hooks = Recorder(AutoReconnect("down")), Recorder()
    with pytest.raises(AutoReconnect):
        await stream(mail, hooks).batch([event("a")])
    assert hooks.seen == []


async def test_an_event_whose_document_does_not_load_reaches_no_reaction() -> None:
    mail = Recorder()
    broken = {**event("a"), "fullDocument": {"_id": ObjectId()}}
    with pytest.raises(ValueError, match="validation error"):
        await stream(mail).handler(broken)
    assert mail.seen == []


async def test_reconciliation_adds_up_every_reaction_that_has_one() -> None:
    async def ten(since: datetime) -> int:
        return 10

    async def two(since: datetime) -> int:
        return 2

    spec = shared_stream(
        "t",
        None,  # type: ignore[arg-type]
        Checkpoint,
        [
            Reaction[Checkpoint](Recorder().handle, ten),
            Reaction[Checkpoint](Recorder().handle),
            Reaction[Checkpoint](Recorder().handle, two),
        ],
        operations=("insert",),
    )
    assert spec.reconcile is not None
    assert await spec.reconcile(AT) == 12
    assert stream(Recorder()).reconcile is None
