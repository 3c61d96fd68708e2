"""A stream's operations always filter its events, a `match` or not (issue 23: with a
`match`, `operations` was ignored, though every webhook stream passed both)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mongoshop.worker.streams import StreamSpec


async def ignore(change: Mapping[str, Any]) -> None:
    return None


def spec(match: dict[str, Any] | None) -> StreamSpec:
    return StreamSpec(
        name="t",
        collection=None,
        operations=("insert",),
        handler=ignore,
        match=match,  # type: ignore[arg-type]
    )


def test_the_operations_alone() -> None:
    assert spec(None).pipeline == [{"$match": {"operationType": {"$in": ["insert"]}}}]


def test_a_match_narrows_the_operations_and_never_replaces_them() -> None:
    match = {"fullDocument.status": "completed"}
    assert spec(match).pipeline == [
        {"$match": {"$and": [{"operationType": {"$in": ["insert"]}}, match]}}
    ]
