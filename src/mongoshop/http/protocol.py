"""Uvicorn's HTTP protocol, with its own error answers in the API's JSON shape and
deadlines for slow clients.

A request too malformed to reach the application (a broken request line,
invalid header bytes) is answered by the HTTP protocol itself, as plain text.
This subclass answers it like every other error of the API: JSON
``{"error", "detail"}`` with the same hardening headers.

Uvicorn reads a request's head and body for as long as the client takes: 50
clients trickling a byte a second held 50 connections for ever (and 1,100 of
them used up the file descriptors, so new clients were refused, silently). Here
a request head must arrive within `head_seconds` of the connection opening or
of the request's first byte, and a body within `body_seconds` of its head;
otherwise the connection is closed (a late body is answered 408 first).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mongoshop.http.headers import COMMON_HEADERS

logger = logging.getLogger(__name__)

LOG_EVERY_SECONDS = 10.0
"""Slow clients closed are logged at most this often (a flood of them is one line)."""


def error_answer(status: int, reason: str, error: str, message: str) -> bytes:
    """A whole error response, bytes on the wire: the connection is closed after it."""
    body = json.dumps({"error": error, "detail": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"cache-control", b"no-store"),
        (b"connection", b"close"),
        *COMMON_HEADERS,
    ]
    head = f"HTTP/1.1 {status} {reason}\r\n".encode("ascii") + b"".join(
        name + b": " + value + b"\r\n" for name, value in headers
    )
    return head + b"\r\n" + body


def malformed_request_answer(message: str) -> bytes:
    return error_answer(400, "Bad Request", "bad_request", message)


class SlowClients:
    """How many connections were closed for being slow, logged now and then."""

    closed = 0
    logged_at = 0.0

    @classmethod
    def count(cls, what: str, client: Any) -> None:
        cls.closed += 1
        now = time.monotonic()
        if now - cls.logged_at >= LOG_EVERY_SECONDS:
            cls.logged_at = now
            logger.warning(
                "closed a connection from %s: %s (%d slow connections closed so far)",
                client[0] if client else "?",
                what,
                cls.closed,
            )


class JsonErrorsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` whose answer to an unparseable request is JSON, and which
    closes connections whose request head or body is too slow to arrive."""

    head_seconds: ClassVar[float] = 10.0
    body_seconds: ClassVar[float] = 30.0

    _head_deadline: asyncio.TimerHandle | None = None
    _body_deadline: asyncio.TimerHandle | None = None

    @classmethod
    def with_deadlines(cls, head_seconds: float, body_seconds: float) -> type[JsonErrorsProtocol]:
        """This protocol with these deadlines (uvicorn builds the protocol from a class)."""
        return type(
            cls.__name__,
            (cls,),
            {"head_seconds": head_seconds, "body_seconds": body_seconds},
        )

    def send_400_response(self, msg: str) -> None:
        self.transport.write(malformed_request_answer(msg))
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head()

    def on_headers_complete(self) -> None:
        self._cancel("_head_deadline")
        super().on_headers_complete()
        self._body_deadline = self.loop.call_later(self.body_seconds, self._body_too_slow)

    def on_message_complete(self) -> None:
        self._cancel("_body_deadline")
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel("_head_deadline")
        self._cancel("_body_deadline")
        super().connection_lost(exc)

    def _arm_head(self) -> None:
        self._cancel("_head_deadline")
        self._head_deadline = self.loop.call_later(self.head_seconds, self._head_too_slow)

    def _cancel(self, name: str) -> None:
        handle: asyncio.TimerHandle | None = getattr(self, name)
        if handle is not None:
            handle.cancel()
            setattr(self, name, None)

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            SlowClients.count(f"no request head within {self.head_seconds:g} s", self.client)
            self.transport.close()

    def _body_too_slow(self) -> None:
        self._body_deadline = None
        if self.transport.is_closing():
            return
        SlowClients.count(f"no whole body within {self.body_seconds:g} s", self.client)
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            cycle.response_started = True  # the application's answer is not sent after ours
            self.transport.write(
                error_answer(
                    408,
                    "Request Timeout",
                    "request_timeout",
                    f"the request body did not arrive within {self.body_seconds:g} s",
                )
            )
        self.transport.close()
