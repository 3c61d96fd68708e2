"""One attempt: where the request goes, what is read of the answer, what is retried."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from mongoshop.webhooks.client import (
    MAX_RESPONSE_BYTES,
    Outcome,
    WebhookClient,
    parse_retry_after,
    printable,
)
from mongoshop.webhooks.targets import parse_target

PUBLIC = "93.184.215.14"


async def public(host: str, port: int) -> list[str]:
    return [PUBLIC]


async def loopback(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


def streamed(
    status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> httpx.Response:
    """An answer as a real transport gives it: a stream not yet read."""

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    return httpx.Response(status, headers=headers, content=chunks())


def client_with(handler: httpx.MockTransport, resolver=public) -> WebhookClient:  # type: ignore[no-untyped-def]
    return WebhookClient(timeout=2, resolver=resolver, allow_private=False, transport=handler)


async def test_the_request_goes_to_the_checked_address_named_for_the_host() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return streamed(204)

    client = client_with(httpx.MockTransport(handler))
    target = parse_target("https://hooks.example/in?x=1", require_https=True)
    outcome = await client.post(target, b"{}", {"X-Mongoshop-Event-Id": "evt_1"})
    assert outcome.delivered
    [request] = seen
    assert request.url.host == PUBLIC
    assert request.url.path == "/in"
    assert request.headers["Host"] == "hooks.example"
    assert request.extensions["sni_hostname"] == "hooks.example"
    assert request.headers["X-Mongoshop-Event-Id"] == "evt_1"
    await client.aclose()


async def test_an_address_that_resolves_to_loopback_is_never_called() -> None:
    calls: list[httpx.Request] = []
    client = client_with(
        httpx.MockTransport(lambda r: calls.append(r) or httpx.Response(200)), loopback
    )
    outcome = await client.post(
        parse_target("https://rebind.example/", require_https=True), b"{}", {}
    )
    assert calls == []
    assert outcome.status_code is None
    assert outcome.error is not None
    assert "loopback" in outcome.error
    assert outcome.retryable


async def test_a_redirect_is_an_answer_not_followed() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return streamed(302, headers={"Location": "http://169.254.169.254/"})

    client = client_with(httpx.MockTransport(handler))
    outcome = await client.post(
        parse_target("https://hooks.example/", require_https=True), b"{}", {}
    )
    assert len(calls) == 1
    assert outcome.status_code == 302
    assert not outcome.delivered
    assert not outcome.retryable


async def test_at_most_64_kib_of_an_answer_is_read() -> None:
    produced = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal produced
        while True:
            produced += 16 * 1024
            yield b"x" * (16 * 1024)

    client = client_with(httpx.MockTransport(lambda r: httpx.Response(500, content=endless())))
    outcome = await client.post(
        parse_target("https://hooks.example/", require_https=True), b"{}", {}
    )
    assert outcome.status_code == 500
    assert produced <= MAX_RESPONSE_BYTES + 16 * 1024
    assert outcome.error is not None
    assert len(outcome.error) < 300


async def test_a_network_error_is_retryable_and_says_what_happened() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    client = client_with(httpx.MockTransport(handler))
    outcome = await client.post(
        parse_target("https://hooks.example/", require_https=True), b"{}", {}
    )
    assert outcome.retryable
    assert outcome.error == "ConnectError: connection refused"


async def test_retry_after_is_read_from_a_429() -> None:
    client = client_with(httpx.MockTransport(lambda r: streamed(429, headers={"Retry-After": "7"})))
    outcome = await client.post(
        parse_target("https://hooks.example/", require_https=True), b"{}", {}
    )
    assert outcome.retry_after == 7
    assert outcome.retryable


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (None, True),
        (200, False),
        (301, False),
        (400, False),
        (404, False),
        (408, False),
        (429, True),
        (500, True),
        (503, True),
    ],
)
def test_what_is_retried(status: int | None, retryable: bool) -> None:
    outcome = Outcome(0.1, status_code=status)
    assert outcome.retryable is (retryable and not outcome.delivered)


def test_retry_after_as_seconds_or_a_date() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Fri, 27 Nov 2026 12:01:30 GMT", now) == 90
    assert parse_retry_after("Fri, 27 Nov 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_a_receivers_words_are_kept_printable_and_short() -> None:
    assert printable("bad\r\nX-Injected: 1\x1b[31m") == "bad  X-Injected: 1 [31m"
    assert len(printable("x" * 1000)) == 200


@pytest.mark.parametrize(
    "value",
    [
        "²",
        "١٢٠",
        "\uff11\uff10",
        "1e5",
        "-5",
        "9" * 400,
        "Fri, 99 Foo 2026 99:99:99 GMT",
        "\x00",
        " , ",
    ],
)
def test_a_hostile_retry_after_is_no_retry_after(value: str) -> None:
    """A receiver writes this header: "²" is a digit to `str.isdigit` and not to `float`;
    every such value is simply no Retry-After (issue 21: it ended the deliverer)."""
    assert parse_retry_after(value, datetime(2026, 12, 3, tzinfo=UTC)) is None


async def test_a_503_with_a_hostile_retry_after_is_an_ordinary_failed_attempt() -> None:
    """The header's bytes as a receiver sends them (UTF-8 of "²"), decoded as httpx does."""

    def handler(request: httpx.Request) -> httpx.Response:
        return streamed(503, headers={"Retry-After": "²".encode()})  # type: ignore[dict-item]

    client = client_with(httpx.MockTransport(handler))
    outcome = await client.post(
        parse_target("https://hooks.example/", require_https=True), b"{}", {}
    )
    assert (outcome.status_code, outcome.retry_after, outcome.retryable) == (503, None, True)


async def test_whatever_else_goes_wrong_is_a_failed_attempt_naming_only_its_type() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise UnicodeEncodeError("ascii", "secret-text", 0, 1, "no")

    client = client_with(httpx.MockTransport(handler))
    outcome = await client.post(
        parse_target("https://hooks.example/", require_https=True), b"{}", {}
    )
    assert outcome.retryable
    assert outcome.error == "unexpected error: UnicodeEncodeError"


async def test_each_checked_address_is_tried_until_one_takes_the_connection() -> None:
    tried: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tried.append(request.url.host)
        if request.url.host == "2606:4700::1111":
            raise httpx.ConnectError("network is unreachable")
        return streamed(204)

    async def two(host: str, port: int) -> list[str]:
        return ["2606:4700::1111", PUBLIC]

    client = client_with(httpx.MockTransport(handler), resolver=two)
    outcome = await client.post(
        parse_target("https://hooks.example/", require_https=True), b"{}", {}
    )
    assert outcome.delivered
    assert tried == ["2606:4700::1111", PUBLIC]


async def test_an_answer_from_the_first_address_is_the_attempts_outcome() -> None:
    tried: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tried.append(request.url.host)
        return streamed(500)

    async def two(host: str, port: int) -> list[str]:
        return [PUBLIC, "93.184.215.15"]

    client = client_with(httpx.MockTransport(handler), resolver=two)
    outcome = await client.post(
        parse_target("https://hooks.example/", require_https=True), b"{}", {}
    )
    assert outcome.status_code == 500
    assert tried == [PUBLIC]  # a 500 is an answer: not sent again elsewhere


@pytest.mark.parametrize(("attempt", "connect"), [(2.0, 2.0 / 3), (10.0, 3.0), (30.0, 3.0)])
async def test_connecting_gets_a_third_of_the_attempt_and_3_s_at_most(
    attempt: float, connect: float
) -> None:
    """Issue 21 #4: a silent address is given up on before the attempt's whole deadline
    (the next address, or the next delivery, gets the rest); reading gets all of it."""
    seen: list[dict[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return streamed(204)

    client = WebhookClient(
        timeout=attempt,
        resolver=public,
        allow_private=False,
        transport=httpx.MockTransport(handler),
    )
    target = parse_target("https://hooks.example/in", require_https=True)
    assert (await client.post(target, b"{}", {})).delivered
    await client.aclose()
    [timeouts] = seen
    assert timeouts["connect"] == pytest.approx(connect)
    assert timeouts["read"] == attempt
    assert timeouts["connect"] < timeouts["read"]
