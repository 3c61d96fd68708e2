"""Validation helpers: readable error sentences, and batches validated quickly.

`describe_errors` is the one place a pydantic error list becomes text (the
API's 422, an import's rejected line, a stored document that does not load).

Turning many documents into models quickly, without cutting corners on validation:

Validating a batch allocates many small objects, and the cycle collector,
triggered by those allocations, then walks the whole heap over and over:
measured here, most of the cost of validating 10,000 users is collections,
not validation. None of those objects can be cyclic garbage while the batch
is being built, so the collector is paused for the duration of one batch
(and only if it was running), then restored; it runs as usual right after.
Every document is still fully validated.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping, Sequence
from typing import Any


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cycle collector for one batch; nests safely, always restores."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def describe_errors(errors: Sequence[Mapping[str, Any]], limit: int = 10) -> str:
    """One readable sentence per problem, e.g. "body.age: Input should be >= 18"; at most
    `limit`, then how many more. A validator's own message loses pydantic's "Value error, "."""
    parts = []
    for error in errors[:limit]:
        location = ".".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            message = "unknown field"
        parts.append(f"{location}: {message}" if location else message)
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts) or "invalid"
