"""The request id of the work in progress.

Set by the HTTP middleware for each request; read by the log filter and the
database command monitor. PyMongo calls its command listeners synchronously,
in the task (or thread) that runs the command, so a command sent while
handling a request sees that request's id.
"""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("mongoshop_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled here, or None outside a request."""
    return request_id.get()
