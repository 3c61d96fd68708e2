"""Run CPU-heavy work (argon2) without blocking the event loop.

Hand-written pair: the sync face has its own `blocking.py` that just calls the
function. The generator leaves both alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


async def run_blocking(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    return await asyncio.to_thread(func, *args, **kwargs)
