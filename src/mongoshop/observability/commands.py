"""Database command monitoring: latency per command, slow commands in the log.

`CommandMonitor` is a PyMongo command listener, given to every client by the
factories in `mongoshop.db.clients`. PyMongo calls it synchronously in the
task (or thread) that runs the command, so the current request id is visible
and goes into each record.

A ``getMore`` that carries ``maxTimeMS`` is a poll of a tailable cursor (a change
stream): the server holds it open until something happens or the time is up,
so its duration is waiting, not work. Polls are neither timed nor reported as
slow (they are still logged at DEBUG).

What a record holds: the command name, database, collection, duration in
milliseconds, outcome (and the server's error code on a failure) and the
request id. Never the command's documents, filters or values, nor the
server's error message (a duplicate-key message quotes the key's value).
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Histogram
from pymongo import monitoring

from mongoshop.observability.context import current_request_id

COMMAND_LOGGER = "mongoshop.db.commands"
logger = logging.getLogger(COMMAND_LOGGER)

MAX_IN_FLIGHT = 10_000
"""Commands remembered between their start and their end; a bound, never reached in practice."""

_Key = tuple[Any, int]
_Started = tuple[str | None, bool]
"""What is kept from a command's start until its end: its collection, and whether it is a poll."""


def _describe(command: Any, name: str) -> _Started:
    """The collection a command addresses (``{"find": "users"}``, a getMore's ``collection``)."""
    if name == "getMore":
        target = command.get("collection")
        return (target if isinstance(target, str) else None, "maxTimeMS" in command)
    target = command.get(name)
    return (target if isinstance(target, str) else None, False)


class CommandMonitor(monitoring.CommandListener):
    """Times every command; logs the slow ones at WARNING and, at DEBUG, all of them.

    `slow_ms`: commands taking at least this long are slow (0 makes every
    command slow). `latency`: a histogram with a ``command`` label, observed in
    seconds, or None.
    """

    def __init__(self, slow_ms: float, latency: Histogram | None = None) -> None:
        self.slow_ms = slow_ms
        self.latency = latency
        self._in_flight: dict[_Key, _Started] = {}
        self._histograms: dict[str, Any] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            self._in_flight.clear()
        self._in_flight[(event.connection_id, event.request_id)] = _describe(
            event.command, event.command_name
        )

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        # A write the server refused (e.g. a duplicate key) comes back in an "ok" reply.
        write_errors = event.reply.get("writeErrors")
        if write_errors and isinstance(write_errors, list):
            first = write_errors[0]
            self._finished(event, str(first.get("codeName") or first.get("code") or "error"))
        else:
            self._finished(event, None)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        # The code's name, or the exception's type for a network error: never the message.
        failure = event.failure
        code = failure.get("codeName") or failure.get("code") or failure.get("errtype")
        self._finished(event, str(code) if code else "error")

    def _finished(
        self,
        event: monitoring.CommandSucceededEvent | monitoring.CommandFailedEvent,
        error: str | None,
    ) -> None:
        key = (event.connection_id, event.request_id)
        collection, poll = self._in_flight.pop(key, (None, False))
        name = event.command_name
        if self.latency is not None and not poll:
            histogram = self._histograms.get(name)
            if histogram is None:
                histogram = self._histograms[name] = self.latency.labels(name)
            histogram.observe(event.duration_micros / 1_000_000)
        duration_ms = event.duration_micros / 1000
        if duration_ms >= self.slow_ms and not poll:
            level = logging.WARNING
        elif logger.isEnabledFor(logging.DEBUG):
            level = logging.DEBUG
        else:
            return
        namespace = f"{event.database_name}.{collection}" if collection else event.database_name
        outcome = "ok" if error is None else "failed"
        logger.log(
            level,
            "%sdatabase command %s on %s: %.1f ms%s",
            "slow " if level == logging.WARNING else "",
            name,
            namespace,
            duration_ms,
            "" if error is None else f" (failed: {error})",
            extra={
                "command": name,
                "database": event.database_name,
                "collection": collection,
                "duration_ms": round(duration_ms, 3),
                "outcome": outcome,
                "error_code": error,
                "request_id": current_request_id(),
            },
        )
