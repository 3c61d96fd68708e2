"""Guards that apply to every request, whatever the route: body size, security headers, CORS.

Written as plain ASGI middleware (not ``BaseHTTPMiddleware``, which runs each
request through an extra task and costs throughput on every call).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mongoshop.cache import noting_ages
from mongoshop.deadlines import deadline
from mongoshop.http.headers import COMMON_HEADERS
from mongoshop.settings import Settings

logger = logging.getLogger(__name__)

STRICT_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""Everything from this origin only, no inline script, never framed."""

DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
"""The interactive API docs are FastAPI's pages: an inline bootstrap script and
Swagger UI / ReDoc from their CDN. Only those two pages get this policy."""

DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


class BodySizeLimit:
    """Refuses request bodies over `max_bytes` with 413, before anything parses them.

    A declared ``Content-Length`` over the limit is answered at once, without
    reading the body. A body sent without a length (chunked) is counted as it
    is read and cut off when it passes the limit: the route gets a 413
    (FastAPI passes an `HTTPException` raised while reading the body through
    to the error handlers).

    FastAPI's own ``max_body_size`` answers in plain text on some paths; this
    one always answers with the API's error body.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        if declared is None and not chunked:  # no body at all (most GETs): nothing to guard
            await self.app(scope, receive, send)
            return
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._detail)
            return message

        await self.app(scope, receive_within_limit, send)

    @property
    def _detail(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes"

    async def _refuse(self, send: Send) -> None:
        await _send_json(send, 413, "payload_too_large", self._detail, close=True)


async def _send_json(
    send: Send, status: int, code: str, detail: str, *, close: bool = False
) -> None:
    """The API's error body, sent by a middleware (no route or handler runs)."""
    body = json.dumps({"error": code, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HardenedResponses:
    """Every HTTP answer carries the browser-hardening headers, even an unexpected error's.

    Responses are also marked ``Cache-Control: no-store`` unless the route set
    its own caching: API answers carry personal data and bearer-token results,
    which no shared cache should keep.

    An exception no handler took becomes the API's 500 body here, inside the
    middleware stack, so it too carries these headers and the request id, and
    is counted; Starlette's last-resort handler answers outside all of them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = (DOCS_POLICY if scope["path"] in DOCS_PATHS else STRICT_POLICY).encode()
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in COMMON_HEADERS if item[0] not in present)
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", policy))
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if started:  # half an answer is out: only the server can end the connection
                raise
            logger.exception("unhandled error on %s %s", scope.get("method"), scope["path"])
            await _send_json(send_with_headers, 500, "internal_error", "internal error")


class OperationDeadline:
    """Every request's database work runs under one client-side deadline (PyMongo's CSOT).

    Without it a frozen server (a stopped process, a network partition that drops
    packets) is noticed only when a socket read times out, 20 s later by default,
    and a retried operation waits that long twice. With it, every command of the
    request, retries and transactions included, shares `seconds`; then the request
    is a 503 like any outage. The deadline is a context variable, so the tasks the
    request starts inherit it.
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with deadline(self.seconds):
            await self.app(scope, receive, send)


class ListingAge:
    """An answer built from a listing's last computed page says how old it is (``Age``).

    A broad listing that takes longer to compute than a request may wait is
    served as it was last computed while it is computed again
    (`mongoshop._async.services.caching`); the page's documents are read fresh,
    but which documents are on it, and the total, may be out of date by this
    many seconds (RFC 9111 section 5.1).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with noting_ages() as ages:

            async def send_with_age(message: Message) -> None:
                if message["type"] == "http.response.start" and ages:
                    age = str(math.ceil(max(ages))).encode()
                    message = {**message, "headers": [*message.get("headers", []), (b"age", age)]}
                await send(message)

            await self.app(scope, receive, send_with_age)


class OneClientWarning:
    """Say once if the first `SAMPLE` requests all came from one private address while no
    proxy is trusted: the shop then sits behind a proxy whose address every client
    shares, and each per-client limit (sign-in, registration) is one bucket for all of
    them, which anyone can fill to lock everybody out."""

    SAMPLE = 200

    def __init__(self, app: ASGIApp, *, loopback_too: bool = False) -> None:
        """`loopback_too` (production): a loopback peer is a proxy on the same host (nginx
        in front, a common setup), not a developer's own machine."""
        self.app = app
        self.loopback_too = loopback_too
        self.seen: set[str] = set()
        self.counted = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.counted < self.SAMPLE:
            client = scope.get("client")
            self.seen.add(client[0] if client else "")
            self.counted += 1
            if self.counted == self.SAMPLE and len(self.seen) == 1:
                self._warn_if_private(next(iter(self.seen)), self.loopback_too)
        await self.app(scope, receive, send)

    @staticmethod
    def _warn_if_private(host: str, loopback_too: bool) -> None:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return
        if address.is_private and (loopback_too or not address.is_loopback):
            logger.warning(
                "the first %d requests all came from %s and no proxy is trusted: behind a"
                " proxy, set MONGOSHOP_TRUSTED_PROXIES, or every client shares one"
                " sign-in and registration limit (docs/security.md)",
                OneClientWarning.SAMPLE,
                host,
            )


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Body limit and security headers on everything; CORS only for the configured origins.

    With no origins configured (the default) no CORS middleware is installed,
    so browsers on other origins can neither read answers nor send
    preflighted requests. Bearer tokens, not cookies, carry identity, so
    credentials are never allowed cross-origin.
    """
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            allow_credentials=False,
            max_age=600,
        )
    app.add_middleware(ListingAge)
    # Innermost but one: the deadline covers the route's work, not the reading of a slow body.
    app.add_middleware(OperationDeadline, seconds=settings.operation_timeout_seconds)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(HardenedResponses)
    if not settings.trusted_proxies.strip():
        app.add_middleware(OneClientWarning, loopback_too=settings.environment == "production")
