"""Behind an untrusted proxy every client shares one throttle bucket: said once, in the log."""

from __future__ import annotations

import logging

import pytest
from starlette.types import Message, Receive, Scope, Send

from mongoshop.api.middleware import OneClientWarning


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    return None


async def nothing() -> Message:
    return {"type": "http.disconnect"}


async def discard(message: Message) -> None:
    return None


async def requests_from(hosts: list[str], *, production: bool = False) -> None:
    guard = OneClientWarning(app, loopback_too=production)
    for host in hosts:
        await guard({"type": "http", "client": (host, 40000)}, nothing, discard)


@pytest.mark.parametrize(
    ("hosts", "warned"),
    [
        (["10.0.3.7"] * OneClientWarning.SAMPLE, True),  # a proxy on a private network
        (["172.18.0.2"] * (OneClientWarning.SAMPLE + 50), True),
        (["127.0.0.1"] * OneClientWarning.SAMPLE, False),  # a developer's own machine
        (["93.184.215.14"] * OneClientWarning.SAMPLE, False),  # one public client
        (["10.0.3.7"] * (OneClientWarning.SAMPLE - 1) + ["10.0.3.8"], False),
        (["10.0.3.7"] * (OneClientWarning.SAMPLE - 1), False),  # too few to tell
    ],
)
async def test_a_single_private_peer_is_reported_once(
    hosts: list[str], warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mongoshop.api.middleware"):
        await requests_from(hosts)
    warnings = [r for r in caplog.records if "MONGOSHOP_TRUSTED_PROXIES" in r.getMessage()]
    assert len(warnings) == (1 if warned else 0)


async def test_in_production_a_proxy_on_the_same_host_is_reported_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """nginx on the same machine, not trusted: every client arrives from 127.0.0.1."""
    with caplog.at_level(logging.WARNING, logger="mongoshop.api.middleware"):
        await requests_from(["127.0.0.1"] * OneClientWarning.SAMPLE, production=True)
    assert "MONGOSHOP_TRUSTED_PROXIES" in caplog.text
