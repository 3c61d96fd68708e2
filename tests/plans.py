"""Reading explain() answers, on the embedded server and on real MongoDB alike."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

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
