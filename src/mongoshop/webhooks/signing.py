"""The signature of a delivery: HMAC-SHA256 over ``<timestamp>.<body>``.

Signing the timestamp with the body lets a receiver refuse a replayed request
(an old timestamp) without trusting anything unsigned; ``v1=`` names the scheme,
so a later one can be sent alongside during a rotation. The receiver's side
(`verify`) is the recipe of docs/webhooks.md, in code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

EVENT_ID_HEADER = "X-Mongoshop-Event-Id"
EVENT_TYPE_HEADER = "X-Mongoshop-Event-Type"
TIMESTAMP_HEADER = "X-Mongoshop-Timestamp"
SIGNATURE_HEADER = "X-Mongoshop-Signature"
SCHEME = "v1"
REPLAY_WINDOW_SECONDS = 300
"""How old a timestamp a receiver should accept (five minutes, as Stripe's default)."""
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret: 256 random bits."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def canonical_body(event: Mapping[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed): compact JSON, keys sorted, UTF-8."""
    return json.dumps(event, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def signed_headers(
    secret: str, event_id: str, event_type: str, timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        EVENT_ID_HEADER: event_id,
        EVENT_TYPE_HEADER: event_type,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    tolerance: int = REPLAY_WINDOW_SECONDS,
) -> bool:
    """What a receiver checks: a fresh timestamp and a matching signature (in constant time).

    `headers` is looked up case-insensitively by the HTTP frameworks receivers use;
    here it is any mapping with the names as sent.
    """
    try:
        timestamp = int(headers[TIMESTAMP_HEADER])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    given = headers.get(SIGNATURE_HEADER, "")
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(part.strip(), expected) for part in given.split(","))
