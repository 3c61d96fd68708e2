"""The few things that differ between the faces, as a tiny hand-written pair.

The sync face has its own `compat.py` with the same names; the generator
leaves both alone (see tools/gen_sync.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeAlias, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession

from mongoshop.errors import Busy
from mongoshop.security import PasswordHasher
from mongoshop.turns import LockTable

R = TypeVar("R")
T = TypeVar("T")

logger = logging.getLogger(__name__)

TransactionCallback: TypeAlias = Callable[[AsyncClientSession], Awaitable[T]]
"""What a transaction runs: the body of one transaction attempt."""

Loader: TypeAlias = Callable[[], Awaitable[T]]
"""A read to run only when needed (a cache miss)."""


async def hash_password(hasher: PasswordHasher, password: str) -> str:
    """argon2, off the event loop (`_hashing`)."""
    return await _hashing(hasher, hasher.hash, password)


async def verify_password(hasher: PasswordHasher, password: str, password_hash: str | None) -> bool:
    """argon2's check, off the event loop (`_hashing`)."""
    return await _hashing(hasher, hasher.verify, password, password_hash)


async def _hashing(hasher: PasswordHasher, func: Callable[..., R], *args: object) -> R:
    """Run argon2 in the hasher's own threads: admitted here, on the event loop, so that
    past the hasher's queue bound the caller is refused (`Busy`, 503) at once, and the
    admitted ones wait for a slot in their thread (up to the hasher's wait or the
    request's deadline, which the thread sees: the context is copied)."""
    hasher.admit()
    context = contextvars.copy_context()
    call = functools.partial(context.run, hasher.run_admitted, func, *args)
    return await asyncio.get_running_loop().run_in_executor(hasher.executor, call)


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def run_detached(func: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `func` to its end, outside the caller's deadline and cancellation.

    A cleanup that must reach the server (a transaction's abort) cannot run
    under the deadline whose expiry it cleans up after, nor be cancelled with
    the request that gave up: it runs as its own task, in a fresh context (no
    `pymongo.timeout` in force: `func` sets its own bound), and the caller
    waits for it even when cancelled meanwhile.
    """
    task: asyncio.Task[None] = asyncio.get_running_loop().create_task(
        func(), context=contextvars.Context()
    )
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])  # the cleanup goes on; the cancellation is kept
        raise


class KeyedLocks:
    """One lock per key (an account, a product), in this process.

    Writers of the same hot document take turns here instead of conflicting in
    the database, where each conflict costs an aborted attempt and a retry. A
    key's lock exists only while somebody holds or waits for it.
    """

    def __init__(self) -> None:
        self._table = LockTable(asyncio.Lock)

    @contextlib.asynccontextmanager
    async def holding(self, keys: Sequence[str], wait: float | None) -> AsyncIterator[None]:
        """Hold every key's lock, taken in sorted order (two callers never wait for each
        other crosswise); `Busy` when they are not all free within `wait` seconds."""
        wanted = sorted(set(keys))
        locks = self._table.join(wanted)
        held: list[asyncio.Lock] = []
        try:
            try:
                async with asyncio.timeout(wait):
                    for lock in locks:
                        await lock.acquire()
                        held.append(lock)
            except TimeoutError:
                raise Busy("too many requests for the same items at once; try again") from None
            yield
        finally:
            for lock in held:
                lock.release()
            self._table.leave(wanted)

    def __len__(self) -> int:
        """How many keys are held or waited for (none are kept beyond that)."""
        return len(self._table)


Serve: TypeAlias = Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]
"""What serves a batch: the queued items in, one outcome per item out, in order."""


class Batches:
    """Calls queued under one name (a hot product), served a batch at a time.

    The first call of a name starts a task that serves its queue: it takes what
    is waiting (up to `max_size`), hands it to `serve` as one batch, gives each
    caller its outcome, and goes on while calls keep arriving. A lone call is
    served at once; under load, the calls that arrive while one batch runs
    form the next, so the batches grow with the crowd and nobody waits for
    company. A caller that gives up before its batch starts is left out of it;
    one that gives up while its batch runs stops the batch (its transaction is
    aborted), and the others are served again without it. The server runs in
    a fresh context (no caller's deadline): `serve` bounds itself.
    """

    def __init__(self, max_size: int = 32) -> None:
        self.max_size = max_size
        self._queues: dict[str, list[tuple[Any, asyncio.Future[Any]]]] = {}
        self._flights: dict[str, tuple[asyncio.Task[list[Any]], list[asyncio.Future[Any]]]] = {}
        self._servers: set[asyncio.Task[None]] = set()

    async def submit(self, name: str, item: Any, serve: Serve) -> Any:
        """`item`'s outcome, once the batch it joined under `name` is served; `serve`'s
        exception when the whole batch failed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        queue = self._queues.get(name)
        if queue is not None:
            queue.append((item, future))
        else:
            self._queues[name] = [(item, future)]
            server = loop.create_task(self._serve(name, serve), context=contextvars.Context())
            self._servers.add(server)
            server.add_done_callback(self._servers.discard)
        try:
            return await future
        except asyncio.CancelledError:
            flight = self._flights.get(name)
            if flight is not None and future in flight[1]:
                flight[0].cancel()  # its batch is running: stop it, the others go again
            raise

    async def _serve(self, name: str, serve: Serve) -> None:
        while True:
            waiting = [entry for entry in self._queues[name] if not entry[1].done()]
            if not waiting:
                del self._queues[name]
                return
            taken, self._queues[name] = waiting[: self.max_size], waiting[self.max_size :]
            futures = [future for _, future in taken]
            flight: asyncio.Task[list[Any]] = asyncio.get_running_loop().create_task(
                serve([item for item, _ in taken])
            )
            self._flights[name] = (flight, futures)
            try:
                await asyncio.wait([flight])
            except asyncio.CancelledError:
                # The loop is closing: nobody will serve the rest either.
                flight.cancel()
                for future in [*futures, *(f for _, f in self._queues.pop(name))]:
                    future.cancel()
                raise
            finally:
                del self._flights[name]
            if flight.cancelled():  # a caller gave up: the others, first in line again
                self._queues[name][:0] = [entry for entry in taken if not entry[1].done()]
                continue
            error = flight.exception()
            if error is not None:
                for future in futures:
                    if not future.done():
                        future.set_exception(error)
                continue
            for future, outcome in zip(futures, flight.result(), strict=True):
                if not future.done():
                    future.set_result(outcome)

    def __len__(self) -> int:
        """How many names have calls waiting or being served."""
        return len(self._queues)


class Background:
    """Work a request starts and must not wait for (a refresh), one at a time per name.

    Each runs as its own task in a fresh context (no request's deadline: the
    work bounds itself), and is supervised: its failure is logged, and the next
    `start` of the name tries again. At most `limit` run at once (one, by
    default): such work reads whole collections, and on a server that runs one
    query at a time at full speed (the embedded one) eight such reads at once,
    when a shop's pages expired together, left every request waiting for
    minutes (benchmarks/RESULTS.md section 10); past the limit the caller does
    without (serves what it has, and tries again on the next request).
    """

    def __init__(self, limit: int = 1) -> None:
        self.limit = limit
        self._running: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, work: Callable[[], Awaitable[object]]) -> bool:
        """Start `work` unless `name`'s is running; False when `limit` works are running
        already (the caller does without: the database is busy enough)."""
        if name in self._running:
            return True
        if len(self._running) >= self.limit:
            return False
        task = asyncio.get_running_loop().create_task(
            self._supervised(name, work), context=contextvars.Context()
        )
        self._running[name] = task
        return True

    async def room(self, seconds: float | None) -> bool:
        """Wait up to `seconds` until fewer than `limit` works run; whether they do."""
        loop = asyncio.get_running_loop()
        ends = None if seconds is None else loop.time() + seconds
        while len(self._running) >= self.limit:
            left = None if ends is None else ends - loop.time()
            if not self._running or (left is not None and left <= 0):
                return False
            await asyncio.wait(
                list(self._running.values()), timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
        return True

    async def wait(self, name: str, seconds: float | None) -> bool:
        """Wait up to `seconds` for `name`'s work; whether none is running any more."""
        task = self._running.get(name)
        if task is None:
            return True
        done, _ = await asyncio.wait([task], timeout=seconds)
        return bool(done)

    async def _supervised(self, name: str, work: Callable[[], Awaitable[object]]) -> None:
        try:
            await work()
        except Exception:
            logger.exception("background work %r failed; it is tried again when next due", name)
        finally:
            del self._running[name]

    async def close(self) -> None:
        """Cancel what is running (the process is stopping)."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._running)
