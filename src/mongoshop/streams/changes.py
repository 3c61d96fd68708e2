"""What a change event says, read once and without I/O: both faces and the worker use it.

A stream delivers events as dicts; `Change.of` turns one into a typed value
(its documents loaded as the collection's stored model) at the edge, so what
handles it (the mail service, the webhook events) never reads a raw event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from bson import Timestamp
from pydantic import BaseModel

ModelT = TypeVar("ModelT", bound=BaseModel)


def stored_trace(document: Any) -> Mapping[str, str] | None:
    """The trace context a document carries (`mongoshop.observability.tracing.carrier`)."""
    trace = document.get("trace") if isinstance(document, Mapping) else None
    if not isinstance(trace, Mapping) or not isinstance(trace.get("traceparent"), str):
        return None
    return {key: value for key, value in trace.items() if isinstance(value, str)}


def event_time(change: Mapping[str, Any]) -> datetime | None:
    """When a change happened: its ``wallTime`` (MongoDB 6+), else its cluster time (seconds)."""
    wall_time = change.get("wallTime")
    if isinstance(wall_time, datetime):
        return wall_time if wall_time.tzinfo else wall_time.replace(tzinfo=UTC)
    cluster_time = change.get("clusterTime")
    return cluster_time.as_datetime() if isinstance(cluster_time, Timestamp) else None


@dataclass(frozen=True)
class Change(Generic[ModelT]):
    """One committed change to a document of one collection.

    `document` is the document after the change (an insert's, or the looked-up
    current one of an update: a later state, None once it is deleted);
    `before` its pre-image, where the collection records them; `updated_fields`
    what an update set, as the server reported it (dotted paths).
    """

    operation: str
    key: Any
    document: ModelT | None
    at: datetime | None
    cluster_time: Timestamp | None = None
    before: ModelT | None = None
    updated_fields: Mapping[str, Any] = field(default_factory=dict)
    trace: Mapping[str, str] | None = None
    """The trace context stored with the document by the request that wrote it (where
    tracing is on); the worker replaces it with its change event span's, which what
    the change causes (an e-mail, a delivery) stores in turn."""

    @classmethod
    def of(cls, event: Mapping[str, Any], model: type[ModelT]) -> Change[ModelT]:
        """Read a change-stream event; a document that does not load as `model` raises
        (the event's handling fails, and the stream's consumer retries, then skips it)."""

        def load(document: Any) -> ModelT | None:
            return None if document is None else model.model_validate(document)

        cluster_time = event.get("clusterTime")
        return cls(
            trace=stored_trace(event.get("fullDocument")),
            operation=str(event.get("operationType", "")),
            key=(event.get("documentKey") or {}).get("_id"),
            document=load(event.get("fullDocument")),
            at=event_time(event),
            cluster_time=cluster_time if isinstance(cluster_time, Timestamp) else None,
            before=load(event.get("fullDocumentBeforeChange")),
            updated_fields=(event.get("updateDescription") or {}).get("updatedFields") or {},
        )

    @classmethod
    def inserted(cls, document: ModelT, key: Any, at: datetime) -> Change[ModelT]:
        """A document found by reconciliation, as the insert that made it."""
        return cls(operation="insert", key=key, document=document, at=at)

    @property
    def sequence(self) -> int:
        """The change's cluster time as one integer (seconds, then the increment): the
        order in which the database committed the changes, the same for every reader."""
        if self.cluster_time is not None:
            return (self.cluster_time.time << 32) | self.cluster_time.inc
        at = self.at or datetime.now(UTC)
        return int(at.timestamp() * 1000) << 22

    def sets(self, name: str, value: object) -> bool:
        """Whether this is an update that set `name` to `value`."""
        return self.operation == "update" and self.updated_fields.get(name) == value
