"""A change-stream consumer that survives restarts, outages and lost history.

For a checkpointed stream, the resume token is saved after the handler's
effects are durable, so a crash re-delivers at most the events since the last
save (at-least-once; handlers are idempotent). When the token is too old
(the oplog moved past it), the consumer says so in the log, starts a new
stream, saves its position, and asks the handler to reconcile from the last
checkpoint's time: nothing is silently skipped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pymongo
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError

from mongoshop._async.repositories.checkpoints import AsyncCheckpointRepository
from mongoshop.clock import utcnow
from mongoshop.errors import is_unavailable
from mongoshop.models.checkpoints import Checkpoint
from mongoshop.models.common import Document
from mongoshop.observability.tracing import span
from mongoshop.streams.changes import event_time, stored_trace
from mongoshop.worker.graceful import StopRequest, raise_if_cancelled

logger = logging.getLogger(__name__)

HISTORY_LOST_CODES = {
    286,  # ChangeStreamHistoryLost
    280,  # ChangeStreamFatalError
    260,  # InvalidResumeToken
    136,  # CappedPositionLost
}
POLL_WAIT_MS = 1000
"""How long the server holds an empty poll of a stream open: its default, made explicit so
that command monitoring can tell a poll's waiting (``maxTimeMS`` on a getMore) from slowness."""
RECONCILE_MARGIN = timedelta(minutes=5)
"""Reconciliation starts this long before the last checkpoint, for clock skew."""
HANDLER_ATTEMPTS = 3
"""Times an event's handler is tried when it fails with anything but a database error
(which is an outage: retried for as long as it lasts); then the event is skipped."""

BATCH_SIZE = 100
"""Events handled together at most: their effects written in one batch (`StreamSpec.batch`),
the stream's position saved once for all of them."""
BATCH_WAIT_SECONDS = 0.5
"""How long a batch waits for more events once it holds one. A batch also ends when the
stream has nothing more, but under steady traffic (an event each half second) it always
has one more in time: without this bound, a batch waited for BATCH_SIZE events, and the
first order's e-mail and webhook for a hundred orders."""


def passing(exc: BaseException) -> bool:
    """Whether a handler's failure is the database's passing trouble (an outage, a
    deadline, a transient conflict): the event is handled again once it is over. Any
    other error, a document the database refuses (a validator's, a key's) included,
    would fail the same way every time."""
    if not isinstance(exc, PyMongoError):
        return False
    return is_unavailable(exc) or any(
        exc.has_error_label(label) for label in ("TransientTransactionError", "RetryableWriteError")
    )


Handler = Callable[[Mapping[str, Any]], Awaitable[None]]
BatchHandler = Callable[[Sequence[Mapping[str, Any]]], Awaitable[None]]
Reconciler = Callable[[datetime], Awaitable[int]]


@dataclass
class StreamSpec:
    name: str
    collection: AsyncCollection[Document] | AsyncDatabase[Document]
    """What is watched: one collection, or a whole database (then `match` names the
    collections, by ``ns.coll``)."""
    operations: tuple[str, ...]
    handler: Handler
    reconcile: Reconciler | None = None
    full_document: str | None = None
    full_document_before_change: str | None = None
    """``whenAvailable``: each event carries the document's state before it (where the
    collection records pre-images)."""
    checkpointed: bool = True
    on_restart: Callable[[], None] | None = None
    """Called whenever the stream (re)starts without resuming (e.g. to clear a cache)."""
    match: Document | None = None
    """A further server-side filter of the events of `operations` (which always apply)."""
    batch: BatchHandler | None = None
    """The handler of many events at once (their effects in one write): used for the events
    a poll returns together; `handler` then serves only to isolate an event that fails."""
    formerly: tuple[str, ...] = ()
    """The names its checkpoints were saved under by earlier versions (streams since
    merged into this one): with none of its own yet, it resumes from the oldest of
    those, so an upgrade loses no event (the ones some of them had handled are
    handled again: at least once)."""
    pipeline: list[Document] = field(init=False)

    def __post_init__(self) -> None:
        kinds: Document = {"operationType": {"$in": list(self.operations)}}
        self.pipeline = [{"$match": kinds if self.match is None else {"$and": [kinds, self.match]}}]


def is_history_lost(exc: PyMongoError) -> bool:
    return isinstance(exc, OperationFailure) and exc.code in HISTORY_LOST_CODES


class StreamConsumer:
    def __init__(
        self,
        spec: StreamSpec,
        checkpoints: AsyncCheckpointRepository,
        *,
        retry_delay: float = 0.5,
        max_retry_delay: float = 10.0,
        step_timeout: float = 5.0,
    ) -> None:
        """`step_timeout`: the client-side deadline of one poll with the handling of its
        event (MONGOSHOP_OPERATION_TIMEOUT_SECONDS): a frozen database is an interruption
        noticed within it, not after a socket timeout."""
        self.spec = spec
        self.step_timeout = step_timeout
        self.checkpoints = checkpoints
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.token: Mapping[str, Any] | None = None
        self.ready = asyncio.Event()
        self.stop = StopRequest()
        """Ask `run` to return after the event in hand, its position saved."""
        self.skipped = 0
        """Events skipped because their handler failed every attempt (logged each)."""
        self.caught_up_to: datetime | None = None
        """Every event up to this time is handled: the last event's time, or the last empty
        poll's when idle. None until the stream has answered once."""

    @property
    def name(self) -> str:
        return self.spec.name

    def lag_seconds(self, now: datetime) -> float | None:
        """How far behind the collection this consumer is (None before its first answer)."""
        if self.caught_up_to is None:
            return None
        return max((now - self.caught_up_to).total_seconds(), 0.0)

    async def run(self) -> None:
        """Consume until stopped; reconnect after outages with a capped back-off."""
        delay = self.retry_delay
        if self.spec.checkpointed:
            saved = await self._retrying(self._load, self.spec.name)
            self.token = None if saved is None else saved.resume_token
        while not self.stop.requested:
            try:
                await self._consume()
            except PyMongoError as exc:
                raise_if_cancelled()
                if is_history_lost(exc):
                    await self._recover_lost_history(exc)
                    continue
                if not is_unavailable(exc):
                    logger.exception("change stream %s failed", self.spec.name)
                else:
                    logger.warning("change stream %s interrupted: %s", self.spec.name, exc)
                await self.stop.sleep(delay)
                delay = min(delay * 2, self.max_retry_delay)
            else:
                delay = self.retry_delay

    async def _consume(self) -> None:
        spec = self.spec
        options: dict[str, Any] = {"max_await_time_ms": POLL_WAIT_MS}
        if spec.full_document:
            options["full_document"] = spec.full_document
        if spec.full_document_before_change:
            options["full_document_before_change"] = spec.full_document_before_change
        if self.token is not None:
            options["resume_after"] = self.token
        async with await spec.collection.watch(spec.pipeline, **options) as stream:
            if self.token is None:
                # A new start: remember where it begins before anything happens, so a crash
                # right now cannot lose the events that follow.
                if stream.resume_token is not None:
                    await self._save(stream.resume_token)
                if spec.on_restart:
                    spec.on_restart()
            self.ready.set()
            batch: list[Mapping[str, Any]] = []
            closes = 0.0
            while stream.alive and not self.stop.requested:
                raise_if_cancelled()
                with pymongo.timeout(self.step_timeout):
                    polled_at = utcnow()
                    change = await stream.try_next()
                if change is not None:
                    if not batch:
                        closes = time.monotonic() + BATCH_WAIT_SECONDS
                    batch.append(change)
                    if len(batch) < BATCH_SIZE and time.monotonic() < closes:
                        continue
                if batch:
                    # A full batch, an old enough one, or the stream has nothing more for
                    # now: handle them.
                    await self._flush(batch)
                    batch = []
                elif stream.alive:  # an empty poll: nothing happened before it was sent
                    self.caught_up_to = polled_at
            if batch:  # stopping: the events in hand are handled first
                await self._flush(batch)
            if self.stop.requested and stream.resume_token is not None:
                # Every event the stream returned is handled: save how far it has
                # read (past the events the pipeline filters out), so a restart
                # resumes here rather than at the last handled event.
                await self._save(stream.resume_token)
                logger.info("change stream %s stopped, its position saved", spec.name)

    async def _flush(self, batch: Sequence[Mapping[str, Any]]) -> None:
        """Handle a batch of events, then save the position after the last one.

        A crash before the save handles the batch again after the restart (the
        handlers are idempotent: at least once, and the same effects). The
        batch handler writes all of their effects at once; when it fails with
        anything but a database error, each event is handled on its own, so
        that the one that cannot be handled is found and skipped (`_handle`).

        Traced as one span (a trace of its own, sampled as any), linked to the traces
        of the requests whose changes it holds.
        """
        attributes = {"mongoshop.stream": self.spec.name, "mongoshop.batch.size": len(batch)}
        links = [stored_trace(change.get("fullDocument")) for change in batch]
        with span("stream batch", links=links, attributes=attributes):
            await self._handle_batch(batch)
        with pymongo.timeout(self.step_timeout):
            await self._save(batch[-1]["_id"])
        self.caught_up_to = event_time(batch[-1]) or utcnow()

    async def _handle_batch(self, batch: Sequence[Mapping[str, Any]]) -> None:
        if self.spec.batch is None:
            await self._one_by_one(batch)
        else:
            try:
                with pymongo.timeout(self.step_timeout):
                    await self.spec.batch(batch)
            except Exception as exc:
                if passing(exc):
                    raise
                raise_if_cancelled()
                logger.warning(
                    "change stream %s: a batch of %d event(s) failed; one by one now",
                    self.spec.name,
                    len(batch),
                    exc_info=True,
                )
                await self._one_by_one(batch)

    async def _one_by_one(self, batch: Sequence[Mapping[str, Any]]) -> None:
        for change in batch:
            with pymongo.timeout(self.step_timeout):
                await self._handle(change)

    async def _handle(self, change: Mapping[str, Any]) -> None:
        """Run the handler on one event. An outage propagates (`passing`: the event is
        handled again after it); any other failure, a database's refusal of what the
        handler wrote included, is retried a few times, then logged and the event
        skipped: one event no handler can take must not stop every later one (nor end
        the stream's loop, nor hold it for ever: a refusal is not an outage)."""
        for attempt in range(1, HANDLER_ATTEMPTS + 1):
            try:
                await self.spec.handler(change)
                return
            except Exception as exc:
                if passing(exc):
                    raise
                raise_if_cancelled()
                key = change.get("documentKey")
                if attempt < HANDLER_ATTEMPTS:
                    logger.warning(
                        "change stream %s: handling %s failed (attempt %d); trying again",
                        self.spec.name,
                        key,
                        attempt,
                        exc_info=True,
                    )
                    await self.stop.sleep(self.retry_delay * attempt)
                    continue
                self.skipped += 1
                logger.exception(
                    "change stream %s: skipping the event on %s after %d failed attempts",
                    self.spec.name,
                    key,
                    attempt,
                )

    async def _load(self, name: str) -> Checkpoint | None:
        """This stream's checkpoint; without one, the oldest of its former names'."""
        saved = await self.checkpoints.load(name)
        if saved is not None or not self.spec.formerly:
            return saved
        former = [await self.checkpoints.load(old) for old in self.spec.formerly]
        found = [checkpoint for checkpoint in former if checkpoint is not None]
        if not found:
            return None
        oldest = min(found, key=lambda checkpoint: checkpoint.updated_at)
        logger.info(
            "change stream %s resumes where %s stopped (its earlier name)", name, oldest.name
        )
        return oldest

    async def _save(self, token: Mapping[str, Any]) -> None:
        self.token = token
        if self.spec.checkpointed:
            await self.checkpoints.save(self.spec.name, token, utcnow())

    async def _recover_lost_history(self, exc: PyMongoError) -> None:
        saved = await self.checkpoints.load(self.spec.name) if self.spec.checkpointed else None
        since = (saved.updated_at if saved else utcnow()) - RECONCILE_MARGIN
        logger.error(
            "change stream %s cannot resume: its history is gone from the oplog (%s). "
            "Starting from now and reconciling everything since %s.",
            self.spec.name,
            exc,
            since.isoformat(),
        )
        self.token = None
        if self.spec.checkpointed:
            # Open a fresh stream first and save its position, then reconcile: an event
            # that happens during reconciliation is then handled twice, never lost.
            collection = self.spec.collection
            async with await collection.watch(self.spec.pipeline) as stream:
                if stream.resume_token is not None:
                    await self._save(stream.resume_token)
        if self.spec.reconcile is not None:
            count = await self.spec.reconcile(since)
            logger.warning(
                "change stream %s reconciled: %d item(s) enqueued", self.spec.name, count
            )
        if self.spec.on_restart:
            self.spec.on_restart()

    async def _retrying(self, call: Callable[[str], Awaitable[Any]], argument: str) -> Any:
        delay = self.retry_delay
        while True:
            try:
                return await call(argument)
            except PyMongoError as exc:
                raise_if_cancelled()
                if not is_unavailable(exc):
                    raise
                logger.warning("waiting for the database: %s", exc)
                await self.stop.sleep(delay)
                if self.stop.requested:
                    return None
                delay = min(delay * 2, self.max_retry_delay)
