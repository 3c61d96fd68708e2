"""Multi-document transactions that never outlive the work that started them.

A transaction the client gives up on must not stay open on the server: it
holds its writes (every other writer of those documents waits for it) and its
snapshot (the server must keep every version written since, and bulk writes
crawl). PyMongo's `with_transaction` leaves exactly that behind when the
request's deadline (`pymongo.timeout`) expires while a statement is in flight:
the connection is closed, the abort would exceed the deadline so it is never
sent, and the session is discarded as dirty, never to be reused. On the
embedded server such a transaction was seen to stall every write to the
collection after a flash sale (docs/embedded-database.md); MongoDB keeps it
until `transactionLifetimeLimitSeconds`.

So this runner does the retrying itself, with three rules:

- **Its own budget**: the attempts stop early enough before the caller's
  deadline (`mongoshop.deadlines`) that the abort still fits
  (`ABORT_RESERVE_SECONDS`), and never last past `timeout`.
- **Abort on every exit path**, on its own clock: an attempt that fails, or is
  cancelled, is aborted outside the expired deadline and the cancellation
  (`run_detached`); when a statement or the commit was lost in flight, the
  session is also killed on the server (``killSessions``), which ends whatever
  it still holds.
- **Writers of one document take turns** in this process (`KeyedLocks`): the
  caller names the documents it will write (`keys`), so twenty buyers of one
  product queue for a few milliseconds each instead of aborting each other.
  Across processes, conflicts remain possible and are retried after a short,
  jittered back-off.
- **Writers of one hot document share a transaction** when they name a
  `batch` (the product of an order): the callbacks queued under one name run
  one after the other in one transaction, committed once (`Batches`). Taking
  turns still costs each writer a whole transaction (its start, its commit and
  its hand-over), and on a durable server the commit is the dearest part; a
  batch pays it once for everyone queued, and its inserts (each order, each
  ledger entry) are held and sent as one ``insert_many`` per collection
  (`mongoshop.deferral`), so the round trips in series are the guarded updates
  alone. A callback that refuses (out of stock, no funds) is taken out and run
  alone, where it gets its own answer; the others are committed without it.
  Held inserts refused together (a reused key) send everyone alone.

Retries follow the transactions specification: the whole callback again on
``TransientTransactionError``, the commit again on
``UnknownTransactionCommitResult``. The callback must only write through the
session it is given, and raise to abort: nothing it did is then visible.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import pymongo
from pymongo import WriteConcern
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.mongo_client import AsyncMongoClient
from pymongo.errors import ConnectionFailure, PyMongoError

from mongoshop import deadlines
from mongoshop._async.compat import (
    Batches,
    KeyedLocks,
    TransactionCallback,
    run_detached,
    sleep,
)
from mongoshop.deferral import holding_inserts
from mongoshop.errors import Busy
from mongoshop.models.common import Document
from mongoshop.observability.tracing import Carrier, carrier, span

T = TypeVar("T")

logger = logging.getLogger(__name__)

ABORT_SECONDS = 1.0
"""The clean-up's own bound (abort, then kill the session if a statement was lost in
flight): it runs outside the caller's deadline, on its own clock."""
ABORT_RESERVE_SECONDS = 0.5
"""What the attempts leave of the caller's deadline: an abort is one round trip, so the
request is answered within its deadline, or a little after when the server is slow."""
RETRY_BASE_SECONDS = 0.005
RETRY_CAP_SECONDS = 0.1
MAJORITY = WriteConcern(w="majority")

TRANSIENT = "TransientTransactionError"
UNKNOWN_COMMIT = "UnknownTransactionCommitResult"
MAX_TIME_EXPIRED = 50


def backoff(attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: exponential from 5 ms, capped at 100 ms, with
    full jitter, so writers that conflicted once do not meet again at the same moment."""
    return random.uniform(0, min(RETRY_BASE_SECONDS * 2 ** (attempt - 1), RETRY_CAP_SECONDS))


def has_label(exc: BaseException, label: str) -> bool:
    return isinstance(exc, PyMongoError) and exc.has_error_label(label)


@dataclass(frozen=True)
class Member(Generic[T]):
    """A callback waiting for its batch: what it writes, and when its caller gives up."""

    callback: TransactionCallback[T]
    keys: tuple[str, ...]
    ends: float | None
    trace: Carrier | None = None
    """Its caller's trace context: the batch runs in the batch server's task, not the
    caller's, so its spans are placed by this."""


ALONE: Any = object()
"""A batch's answer to a member that must run in a transaction of its own."""


@dataclass(frozen=True)
class Failed:
    """A batch's answer to a member whose own transaction failed: its caller raises it."""

    error: Exception


class HeldInsertsRefused(Exception):
    """The batch's held inserts were refused together (a reused key): nobody's alone."""


def one_after_another(
    members: list[Member[Any]], refused: list[Member[Any]]
) -> TransactionCallback[list[Any]]:
    """One transaction's body: every member's callback in turn, their results in order.

    A member whose callback raises (other than a transient conflict, which is
    the whole transaction's) is noted in `refused` before the exception aborts
    the transaction. The callbacks' inserts are held and sent together at the
    end (`mongoshop.deferral`): a refusal there is `HeldInsertsRefused`.
    """

    async def together(session: AsyncClientSession) -> list[Any]:
        results = []
        with holding_inserts(session) as held:
            for member in members:
                try:
                    results.append(await member.callback(session))
                except Exception as exc:
                    if not has_label(exc, TRANSIENT):
                        refused.append(member)
                    raise
        try:
            for collection, documents in held.by_collection():
                await collection.insert_many(documents, session=session)
        except PyMongoError as exc:
            if has_label(exc, TRANSIENT) or isinstance(exc, ConnectionFailure):
                raise
            raise HeldInsertsRefused(str(exc)) from exc
        return results

    return together


class AsyncTransactions:
    """Runs callbacks as transactions on one client (the unit of work)."""

    def __init__(
        self,
        client: AsyncMongoClient[Document],
        timeout: float | None = None,
        *,
        locks: KeyedLocks | None = None,
        batches: Batches | None = None,
    ) -> None:
        """`timeout`: seconds for a whole transaction, turns and retries included
        (None: only the caller's deadline bounds it)."""
        self.client = client
        self.timeout = timeout
        self.locks = locks if locks is not None else KeyedLocks()
        self.batches = batches if batches is not None else Batches()

    def budget(self) -> float | None:
        """The time the attempts may take: `timeout`, and the caller's deadline less the
        abort's share."""
        left = deadlines.remaining()
        if left is None:
            return self.timeout
        room = left - ABORT_RESERVE_SECONDS
        return room if self.timeout is None else min(self.timeout, room)

    async def run(
        self,
        callback: TransactionCallback[T],
        *,
        keys: Iterable[str] = (),
        batch: str | None = None,
    ) -> T:
        """`callback` in a transaction, committed once; retried while the budget lasts.

        `keys` name the documents the transaction writes that others write too
        (``"products:<id>"``): it waits for its turn on them first. `batch`
        names the hot document (the same as one of `keys`): callbacks queued
        under one name share a transaction. Out of budget, whether waiting for
        its turn or retrying conflicts, it is `Busy`; a deadline that expires
        mid-statement is the driver's timeout error. Either way, nothing is left
        open on the server.
        """
        with span("transaction", attributes={"mongoshop.transaction.batched": batch is not None}):
            return await self._run_or_join(callback, tuple(keys), batch)

    async def _run_or_join(
        self, callback: TransactionCallback[T], keys: tuple[str, ...], batch: str | None
    ) -> T:
        budget = self.budget()
        if budget is not None and budget <= 0:
            raise Busy("no time was left for the transaction; try again")
        ends = None if budget is None else time.monotonic() + budget
        if batch is not None:
            member = Member(callback, tuple(keys), ends, carrier())
            outcome = await self.batches.submit(batch, member, self._run_batch)
            if isinstance(outcome, Failed):
                raise outcome.error
            if outcome is not ALONE:
                return cast(T, outcome)
            budget = self.budget()  # alone, after the batch that set it aside
            ends = None if budget is None else time.monotonic() + budget
        return await self._run(callback, keys, ends)

    async def _run(
        self, callback: TransactionCallback[T], keys: Iterable[str], ends: float | None
    ) -> T:
        left = None if ends is None else ends - time.monotonic()
        if left is not None and left <= 0:
            raise Busy("no time was left for the transaction; try again")
        async with self.locks.holding(list(keys), left):
            left = None if ends is None else ends - time.monotonic()
            if left is not None and left <= 0:  # its turn came as the budget ran out
                raise Busy("no time was left for the transaction after its turn; try again")
            with pymongo.timeout(left):
                async with self.client.start_session() as session:
                    return await self._attempts(session, callback, ends)

    async def _run_batch(self, members: list[Member[Any]]) -> list[Any]:
        """Each member's result, committed together; `ALONE` for those that must run alone.

        A member whose callback refuses is taken out (to run alone, where it
        gets its own answer) and the others are tried again together. A lone
        member runs here too, as the batch (so the next batch waits for it),
        its failure its own (`Failed`). The batch ends when its most hurried
        member must be answered. A failure that is no member's (out of time,
        the server gone) is everyone's.
        """
        attributes = {"mongoshop.transaction.members": len(members)}
        with span(
            "transaction batch",
            parent=members[0].trace,
            links=[member.trace for member in members[1:]],
            attributes=attributes,
        ):
            return await self._batch(members)

    async def _batch(self, members: list[Member[Any]]) -> list[Any]:
        outcomes: dict[int, Any] = {}
        live = list(members)
        while len(live) > 1:
            refused: list[Member[Any]] = []
            keys = {key for member in live for key in member.keys}
            ends = min((m.ends for m in live if m.ends is not None), default=None)
            try:
                results = await self._run(one_after_another(live, refused), keys, ends)
            except HeldInsertsRefused:
                live = []  # each alone, where each gets its own answer
                break
            except Exception:
                if not refused:
                    raise
                live.remove(refused[-1])
                continue
            outcomes = {id(member): result for member, result in zip(live, results, strict=True)}
            live = []
        if len(live) == 1:
            (member,) = live
            try:
                outcomes[id(member)] = await self._run(member.callback, member.keys, member.ends)
            except Exception as exc:
                outcomes[id(member)] = Failed(exc)
        return [outcomes.get(id(member), ALONE) for member in members]

    async def _attempts(
        self, session: AsyncClientSession, callback: TransactionCallback[T], ends: float | None
    ) -> T:
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            with span("transaction.attempt", attributes={"mongoshop.attempt": attempt}) as trying:
                await session.start_transaction(write_concern=MAJORITY)
                try:
                    result = await callback(session)
                    await self._commit(session, ends)
                    return result
                except BaseException as exc:
                    await self._clean_up(session, exc)
                    if not has_label(exc, TRANSIENT):
                        raise
                    trying.set_attribute("mongoshop.transaction.retried", True)
                    pause = backoff(attempt)
                    # Another attempt only if it fits: it takes about as long as this one did.
                    if (
                        ends is not None
                        and time.monotonic() + pause + (time.monotonic() - started) > ends
                    ):
                        raise Busy(
                            f"the transaction conflicted with others {attempt} time(s) and ran"
                            " out of time; try again"
                        ) from exc
            await sleep(pause)

    async def _commit(self, session: AsyncClientSession, ends: float | None) -> None:
        while True:
            try:
                await session.commit_transaction()
                return
            except PyMongoError as exc:
                unknown = has_label(exc, UNKNOWN_COMMIT) and getattr(exc, "code", None) != (
                    MAX_TIME_EXPIRED
                )
                if not unknown or (ends is not None and time.monotonic() >= ends):
                    raise
                # The commit may have been applied: asking again is safe (the server
                # answers a committed transaction's commit with success).

    async def _clean_up(self, session: AsyncClientSession, failure: BaseException) -> None:
        """Make sure the server holds nothing more of this attempt, whatever ended it."""
        lost_in_flight = isinstance(failure, ConnectionFailure)
        if not session.in_transaction and not lost_in_flight:
            return  # committed, or never started on the server

        async def clean() -> None:
            with pymongo.timeout(ABORT_SECONDS):
                if session.in_transaction:
                    await session.abort_transaction()  # errors are ignored, per the spec
                if lost_in_flight:
                    # The connection was closed mid-statement: the abort above may have
                    # found the transaction busy, or never reached it. Ending the session
                    # on the server ends whatever it still holds.
                    try:
                        await self.client.admin.command("killSessions", [session.session_id])
                    except PyMongoError as exc:
                        logger.warning(
                            "a transaction's session could not be ended on the server"
                            " (%s); the server will reap it",
                            type(exc).__name__,
                        )

        await run_detached(clean)
