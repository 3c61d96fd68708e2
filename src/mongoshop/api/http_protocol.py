"""Uvicorn's HTTP protocol, with its own error answers in the API's JSON shape.

A request too malformed to reach the application (a broken request line,
invalid header bytes) is answered by the HTTP protocol itself, as plain text.
This subclass answers it like every other error of the API: JSON
``{"error", "detail"}`` with the same hardening headers.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mongoshop.api.middleware import COMMON_HEADERS


def malformed_request_answer(message: str) -> bytes:
    """The whole 400 response, bytes on the wire: the connection is closed after it."""
    body = json.dumps({"error": "bad_request", "detail": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"cache-control", b"no-store"),
        (b"connection", b"close"),
        *COMMON_HEADERS,
    ]
    head = b"HTTP/1.1 400 Bad Request\r\n" + b"".join(
        name + b": " + value + b"\r\n" for name, value in headers
    )
    return head + b"\r\n" + body


class JsonErrorsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` whose answer to an unparseable request is JSON."""

    def send_400_response(self, msg: str) -> None:
        self.transport.write(malformed_request_answer(msg))
        self.transport.close()
