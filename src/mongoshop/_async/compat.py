"""The few things that differ between the faces, as a tiny hand-written pair.

The sync face has its own `compat.py` with the same names; the generator
leaves both alone (see tools/gen_sync.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeAlias, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

TransactionCallback: TypeAlias = Callable[[AsyncClientSession], Awaitable[T]]
"""What `with_transaction` runs: the body of one transaction attempt."""

Loader: TypeAlias = Callable[[], Awaitable[T]]
"""A read to run only when needed (a cache miss)."""


async def run_blocking(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run CPU-heavy work (argon2) in a thread, off the event loop."""
    return await asyncio.to_thread(func, *args, **kwargs)
