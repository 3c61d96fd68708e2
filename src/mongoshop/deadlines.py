"""The deadline of the work in hand, readable by the code that must keep time for a cleanup.

PyMongo's `pymongo.timeout` bounds every command of a block (its client-side
operation timeout), but the application cannot read how much of it is left.
The transaction runner needs exactly that: it stops retrying early enough that
its abort still fits, so that a request that gives up never leaves a
transaction open on the server (`mongoshop._async.transactions`). So the API's
middleware opens the request's deadline here: this opens PyMongo's with the
same bound and remembers when it ends.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

import pymongo

_ENDS: ContextVar[float | None] = ContextVar("mongoshop_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Run the block within `seconds` (PyMongo's timeout included); None: no deadline.

    Nested deadlines keep the earlier end, as PyMongo's do.
    """
    if seconds is None:
        yield
        return
    ends = time.monotonic() + seconds
    outer = _ENDS.get()
    token = _ENDS.set(ends if outer is None else min(outer, ends))
    try:
        with pymongo.timeout(seconds):
            yield
    finally:
        _ENDS.reset(token)


def remaining() -> float | None:
    """Seconds left before the deadline in force (negative once passed); None without one."""
    ends = _ENDS.get()
    return None if ends is None else ends - time.monotonic()
