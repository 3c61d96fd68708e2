"""The sync face's half of the hand-written pair in `_async/compat.py`."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeAlias, TypeVar

from pymongo.synchronous.client_session import ClientSession

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

TransactionCallback: TypeAlias = Callable[[ClientSession], T]

Loader: TypeAlias = Callable[[], T]
"""What `with_transaction` runs: the body of one transaction attempt."""


def run_blocking(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Nothing to keep free in the sync face: just call it."""
    return func(*args, **kwargs)
