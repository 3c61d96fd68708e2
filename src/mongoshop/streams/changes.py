"""What a change event says, read without I/O: both faces and the worker use it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bson import Timestamp


def event_time(change: Mapping[str, Any]) -> datetime | None:
    """When a change happened: its ``wallTime`` (MongoDB 6+), else its cluster time (seconds)."""
    wall_time = change.get("wallTime")
    if isinstance(wall_time, datetime):
        return wall_time if wall_time.tzinfo else wall_time.replace(tzinfo=UTC)
    cluster_time = change.get("clusterTime")
    return cluster_time.as_datetime() if isinstance(cluster_time, Timestamp) else None
