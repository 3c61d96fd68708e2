"""The request id of each HTTP request, and its count and latency.

`RequestObserver` is plain ASGI middleware (``BaseHTTPMiddleware`` would run
every request through an extra task). Per request it does a header scan, a
context-variable set, a header append and, when metrics are on, two metric
updates found in a dict: no I/O, nothing that grows with the request.
"""

from __future__ import annotations

import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mongoshop.observability import context
from mongoshop.observability.metrics import Metrics, route_label
from mongoshop.observability.tracing import (
    end_server_span,
    enter_server_span,
    leave_server_span,
    server_span,
)

HEADER = b"x-request-id"
MAX_REQUEST_ID_LENGTH = 64
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]+")
"""What a client may choose as its request id: a short token that is safe in any log."""


def parse_request_id(value: bytes | None) -> str | None:
    """The client's ``X-Request-ID`` if it is a sane short token, else None."""
    if not value or len(value) > MAX_REQUEST_ID_LENGTH:
        return None
    text = value.decode("latin-1")
    return text if _SANE_ID.fullmatch(text) else None


def new_request_id() -> str:
    """32 random hex digits (as unique as a UUID4, at a quarter of its cost)."""
    return os.urandom(16).hex()


class RequestObserver:
    """Gives each HTTP request an id (the client's, if sane), counts it and, where
    tracing is on, makes it a server span (`mongoshop.observability.tracing.server_span`).

    The id goes into the ``X-Request-ID`` response header and the request-id
    context variable, which every log record and database command of the
    request reads. The variable is not reset afterwards: the server runs each
    request in a task with a context of its own, and an unhandled error is
    logged outside this middleware (by Starlette's outermost one), which
    should still name the request.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == HEADER:
                incoming = value
                break
        request_id = parse_request_id(incoming) or new_request_id()
        context.request_id.set(request_id)
        header = (HEADER, request_id.encode("latin-1"))
        status = 500  # what the server answers if the app fails before it starts a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        server = server_span(scope)
        if server is None and self.metrics is None:
            await self.app(scope, receive, send_with_id)
            return
        started = time.perf_counter()
        token = None if server is None else enter_server_span(server)
        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException as escaped:
            error = escaped
            raise
        finally:
            if server is not None:
                leave_server_span(token)
                end_server_span(server, scope, route_label(scope), status, error)
            if self.metrics is not None:
                self.metrics.observe_request(scope, status, time.perf_counter() - started)
