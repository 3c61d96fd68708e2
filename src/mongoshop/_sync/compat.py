"""The sync face's half of the hand-written pair in `_async/compat.py`."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeAlias, TypeVar

from pymongo.synchronous.client_session import ClientSession

from mongoshop.errors import Busy
from mongoshop.security import PasswordHasher
from mongoshop.turns import LockTable

T = TypeVar("T")

logger = logging.getLogger(__name__)

TransactionCallback: TypeAlias = Callable[[ClientSession], T]
"""What a transaction runs: the body of one transaction attempt."""

Loader: TypeAlias = Callable[[], T]
"""A read to run only when needed (a cache miss)."""


def hash_password(hasher: PasswordHasher, password: str) -> str:
    """Nothing to keep free in the sync face: just call it (the hasher bounds it)."""
    return hasher.hash(password)


def verify_password(hasher: PasswordHasher, password: str, password_hash: str | None) -> bool:
    return hasher.verify(password, password_hash)


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def run_detached(func: Callable[[], None]) -> None:
    """Run `func` outside the caller's deadline: in a fresh context, where no
    `pymongo.timeout` is in force (`func` sets its own bound)."""
    contextvars.Context().run(func)


class KeyedLocks:
    """One lock per key, in this process (threads of a web app on the sync face)."""

    def __init__(self) -> None:
        self._table = LockTable(threading.Lock)
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def holding(self, keys: Sequence[str], wait: float | None) -> Iterator[None]:
        """Hold every key's lock, taken in sorted order; `Busy` when they are not all free
        within `wait` seconds."""
        wanted = sorted(set(keys))
        with self._guard:
            locks = self._table.join(wanted)
        ends = None if wait is None else time.monotonic() + wait
        held: list[threading.Lock] = []
        try:
            for lock in locks:
                wait = -1.0 if ends is None else max(ends - time.monotonic(), 0.0)
                if not lock.acquire(timeout=wait):
                    raise Busy("too many requests for the same items at once; try again")
                held.append(lock)
            yield
        finally:
            for lock in held:
                lock.release()
            with self._guard:
                self._table.leave(wanted)

    def __len__(self) -> int:
        """How many keys are held or waited for (none are kept beyond that)."""
        return len(self._table)


Serve: TypeAlias = Callable[[list[Any]], list[Any]]


class Batches:
    """The sync face serves each call alone, in its caller's thread: its callers (the
    CLI, scripts, batch jobs) do not crowd one document from many threads, and combining
    threads' calls would hand one thread's transaction to another's."""

    def __init__(self, max_size: int = 32) -> None:
        self.max_size = max_size

    def submit(self, name: str, item: Any, serve: Serve) -> Any:
        return serve([item])[0]

    def __len__(self) -> int:
        return 0


class Background:
    """The sync face has no loop to leave work on: a refresh runs in its caller, now,
    supervised as in the async face (its failure is logged, the caller goes on)."""

    def __init__(self, limit: int = 1) -> None:
        self.limit = limit

    def start(self, name: str, work: Callable[[], object]) -> bool:
        try:
            work()
        except Exception:
            logger.exception("background work %r failed; it is tried again when next due", name)
        return True

    def room(self, seconds: float | None) -> bool:
        return True

    def wait(self, name: str, seconds: float | None) -> bool:
        return True

    def close(self) -> None:
        return None

    def __len__(self) -> int:
        return 0
