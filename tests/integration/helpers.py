"""Helpers for the integration tests: stored user documents and explain plans."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from mongoshop._async.services.users import new_user_document
from mongoshop.models.common import Document
from mongoshop.models.users import Role, UserStatus

FAKE_HASH = "not-a-real-hash"
"""For documents inserted directly: those users never sign in."""


def user_document(
    name: str,
    email: str,
    *,
    status: UserStatus = UserStatus.ACTIVE,
    roles: tuple[Role, ...] = (Role.USER,),
    created_at: datetime | None = None,
    login_count: int = 0,
) -> Document:
    """A user exactly as the service stores one, with the fields a test wants to pin."""
    document = new_user_document(
        name=name, email=email, password_hash=FAKE_HASH, roles=roles, status=status
    )
    if created_at is not None:
        document["created_at"] = document["updated_at"] = created_at
    document["login_count"] = login_count
    return document


# --- explain() plans --------------------------------------------------------------------

# Stages that read an index. MongoDB 8 answers simple point queries with
# EXPRESS_IXSCAN; older servers with IDHACK for `_id` (which names no index).
_INDEX_STAGES = {"IXSCAN", "EXPRESS_IXSCAN", "COUNT_SCAN", "DISTINCT_SCAN"}
_ID_STAGES = {"IDHACK"}


def _query_planners(explain: Any) -> Iterator[Mapping[str, Any]]:
    """Every `queryPlanner` section: top level, inside `$cursor` stages, per shard."""
    if isinstance(explain, Mapping):
        for key, value in explain.items():
            if key == "queryPlanner" and isinstance(value, Mapping):
                yield value
            elif key not in ("rejectedPlans", "executionStats", "command", "serverInfo"):
                yield from _query_planners(value)
    elif isinstance(explain, list):
        for item in explain:
            yield from _query_planners(item)


def _plan_stages(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every stage of a plan tree, whatever nests it (inputStage, inputStages,
    the SBE `queryPlan` wrapper, a sharded `shards` list)."""
    if isinstance(node, Mapping):
        if isinstance(node.get("stage"), str):
            yield node
        for key, value in node.items():
            if key != "rejectedPlans":
                yield from _plan_stages(value)
    elif isinstance(node, list):
        for item in node:
            yield from _plan_stages(item)


def winning_stages(explain: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The stages of every winning plan in an explain() answer."""
    stages = [
        stage
        for planner in _query_planners(explain)
        for stage in _plan_stages(planner.get("winningPlan", {}))
    ]
    if not stages:
        raise AssertionError(f"no winningPlan in explain output: {explain!r}")
    return stages


def indexes_used(explain: Mapping[str, Any]) -> set[str]:
    names: set[str] = set()
    for stage in winning_stages(explain):
        if stage["stage"] in _ID_STAGES:
            names.add("_id_")
        elif stage["stage"] in _INDEX_STAGES and "indexName" in stage:
            names.add(str(stage["indexName"]))
    return names


def assert_index_scan(explain: Mapping[str, Any], *expected: str) -> None:
    """The winning plan reads one of the `expected` indexes and never scans the collection."""
    stages = [stage["stage"] for stage in winning_stages(explain)]
    used = indexes_used(explain)
    assert "COLLSCAN" not in stages, f"collection scan: {stages}"
    assert used & set(expected), f"expected an index scan on one of {expected}, got {used}"


# --- turning a recorded command into an explain() ---------------------------------------

_KEEP = {
    "find": {"find", "filter", "sort", "projection", "skip", "limit", "hint", "collation"},
    "aggregate": {"aggregate", "pipeline", "cursor", "hint", "collation"},
}


def explainable(command: Mapping[str, Any]) -> Document:
    """The query part of a command the driver sent, ready to pass to ``explain``.

    Session, cluster-time and read-preference fields are dropped. A ``delete``
    becomes the ``find`` of its filter: the planner chooses the same way for
    both, and not every server explains a delete's filter faithfully.
    """
    name = next(iter(command))
    if name == "delete":
        (statement,) = command["deletes"]
        return {"find": command["delete"], "filter": statement["q"]}
    if name not in _KEEP:
        raise ValueError(f"cannot explain a {name!r} command")
    return {key: value for key, value in command.items() if key in _KEEP[name]}
