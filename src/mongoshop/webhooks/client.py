"""One delivery attempt: a POST to a checked address, bounded in time and in size.

No redirect is followed (a 3xx is an answer like a 4xx), no proxy from the
environment is used (it would connect where the check did not look), no
connection is reused, and at most `MAX_RESPONSE_BYTES` of the answer are read
(raw, never decompressed): a receiver cannot hold a worker or fill its memory.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from mongoshop.printable import printable
from mongoshop.webhooks.targets import AsyncResolver, Target, TargetRefused, checked_addresses

logger = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "mongoshop-webhooks/1"
CONNECT_SECONDS = 3.0
"""The longest a connection to one address may take to open, within the attempt's deadline."""


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: an HTTP status, or an error before any."""

    duration: float
    status_code: int | None = None
    retry_after: float | None = None
    """Seconds the receiver asked to wait (``Retry-After`` of a 429 or 503)."""
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        """Network errors, timeouts, 429 and 5xx are tried again; any other answer is final."""
        if self.status_code is None:
            return True
        return self.status_code == 429 or self.status_code >= 500


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from `now`: a number of seconds or an HTTP date; None for
    anything else. A receiver writes this header: it may hold any text (``²`` is a digit
    to `str.isdigit` and not to `float`), so only ASCII digits count as a number, and a
    date that does not parse is no date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value) if len(value) <= 12 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class WebhookClient:
    def __init__(
        self,
        *,
        timeout: float,
        resolver: AsyncResolver,
        allow_private: bool,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`timeout`: the whole attempt's deadline (resolving, connecting, sending, reading)."""
        self.timeout = timeout
        self.resolver = resolver
        self.allow_private = allow_private
        # No connection is kept for another request: the pool is keyed by address, and a
        # TLS connection verified for one host name must not carry a request for another
        # name that resolves to the same address.
        # Connecting gets a third of the attempt (3 s at most): an address that does not
        # answer leaves time for the next one, and a silent host is given up on sooner.
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout / 3, CONNECT_SECONDS)),
            follow_redirects=False,
            trust_env=False,
            transport=transport,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"User-Agent": USER_AGENT},
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def post(self, target: Target, body: bytes, headers: dict[str, str]) -> Outcome:
        started = time.monotonic()

        def elapsed() -> float:
            return time.monotonic() - started

        try:
            async with asyncio.timeout(self.timeout):
                addresses = await checked_addresses(
                    target, self.resolver, allow_private=self.allow_private
                )
                return await self._send_to_one_of(target, addresses, body, headers, elapsed)
        except TargetRefused as exc:
            return Outcome(elapsed(), error=f"refused: {exc}")
        except TimeoutError:
            return Outcome(elapsed(), error=f"timed out after {self.timeout:g} s")
        except (httpx.HTTPError, OSError) as exc:
            return Outcome(elapsed(), error=f"{type(exc).__name__}: {printable(str(exc))}")
        except Exception as exc:  # whatever else a receiver's answer can provoke
            # An attempt fails; the deliverer goes on. Only the type is kept: the
            # text of an unexpected error may quote anything (the request included).
            logger.exception("webhook attempt to %s failed unexpectedly", target.host)
            return Outcome(elapsed(), error=f"unexpected error: {type(exc).__name__}")

    async def _send_to_one_of(
        self,
        target: Target,
        addresses: list[str],
        body: bytes,
        headers: dict[str, str],
        elapsed: Callable[[], float],
    ) -> Outcome:
        """Each checked address in turn until one takes the connection (a name with an
        IPv6 and an IPv4 address, one of them unreachable, is still delivered to); all
        within the attempt's one deadline. An answer, whatever it is, ends the attempt."""
        for address in addresses[:-1]:
            try:
                return await self._send(target, address, body, headers, elapsed)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                continue
        return await self._send(target, addresses[-1], body, headers, elapsed)

    async def _send(
        self,
        target: Target,
        address: str,
        body: bytes,
        headers: dict[str, str],
        elapsed: Callable[[], float],
    ) -> Outcome:
        request = self.http.build_request(
            "POST",
            target.url_for(address),
            content=body,
            headers={**headers, "Host": target.host_header},
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        response = await self.http.send(request, stream=True)
        try:
            received = bytearray()
            async for chunk in response.aiter_raw():
                received += chunk[: MAX_RESPONSE_BYTES - len(received)]
                if len(received) >= MAX_RESPONSE_BYTES:
                    break
        finally:
            await response.aclose()
        status = response.status_code
        error = None
        if not 200 <= status < 300:
            excerpt = printable(received.decode("utf-8", "replace"))
            error = f"HTTP {status}" + (f": {excerpt}" if excerpt else "")
        retry_after = None
        if status in (429, 503):
            retry_after = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
        return Outcome(elapsed(), status_code=status, retry_after=retry_after, error=error)
