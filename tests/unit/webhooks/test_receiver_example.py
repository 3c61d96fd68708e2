"""The receiver of docs/webhooks.md, run as written: it accepts what mongoshop signs and
refuses a forged, altered or replayed request."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from mongoshop.webhooks.signing import canonical_body, new_secret, signed_headers

DOC = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def receiver(secret: str) -> ModuleType:
    [code] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert 'SECRET = b"whsec_..."' in code
    module = ModuleType("receiver_example")
    exec(code.replace('b"whsec_..."', repr(secret.encode())), module.__dict__)
    return module


@pytest.fixture
def secret() -> str:
    return new_secret()


@pytest.fixture
async def client(secret: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=receiver(secret).app)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as http:
        yield http


def test_the_example_is_at_most_fifteen_lines() -> None:
    [code] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    lines = [line for line in code.splitlines() if line.strip()]
    assert len(lines) <= 15


async def test_a_signed_event_is_accepted(client: httpx.AsyncClient, secret: str) -> None:
    body = canonical_body({"id": "evt_1", "type": "order.placed", "created_at": "x", "data": {}})
    headers = signed_headers(secret, "evt_1", "order.placed", int(time.time()), body)
    response = await client.post("/hooks", content=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"received": "evt_1"}


async def test_forged_altered_and_replayed_requests_are_refused(
    client: httpx.AsyncClient, secret: str
) -> None:
    body = canonical_body({"id": "evt_1", "type": "order.placed", "created_at": "x", "data": {}})
    now = int(time.time())
    forged = signed_headers(new_secret(), "evt_1", "order.placed", now, body)
    assert (await client.post("/hooks", content=body, headers=forged)).status_code == 401
    good = signed_headers(secret, "evt_1", "order.placed", now, body)
    assert (await client.post("/hooks", content=body + b" ", headers=good)).status_code == 401
    old = signed_headers(secret, "evt_1", "order.placed", now - 600, body)
    assert (await client.post("/hooks", content=body, headers=old)).status_code == 401
    assert (
        await client.post("/hooks", content=body, headers={"X-Mongoshop-Timestamp": "x"})
    ).status_code == 401
