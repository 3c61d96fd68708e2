"""The signature a receiver checks: HMAC-SHA256 over timestamp and body, fresh, exact."""

from __future__ import annotations

import pytest

from mongoshop.webhooks.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    canonical_body,
    new_secret,
    signature,
    signed_headers,
    verify,
)

SECRET = "whsec_test"
NOW = 1_800_000_000


def signed(body: bytes = b'{"id":"evt_1"}', at: int = NOW) -> dict[str, str]:
    return signed_headers(SECRET, "evt_1", "order.placed", at, body)


def test_a_signed_request_verifies() -> None:
    assert verify(SECRET, signed(), b'{"id":"evt_1"}', NOW)


def test_the_known_answer_of_the_documented_recipe() -> None:
    # hmac.new(b"whsec_test", b"1800000000.{}", sha256), computed independently
    assert signature(SECRET, NOW, b"{}") == (
        "v1=" + __import__("hmac").new(b"whsec_test", b"1800000000.{}", "sha256").hexdigest()
    )


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [
        ("whsec_other", b'{"id":"evt_1"}', NOW),  # another subscription's secret
        (SECRET, b'{"id":"evt_2"}', NOW),  # the body changed
        (SECRET, b'{"id":"evt_1"} ', NOW),  # one byte more
        (SECRET, b'{"id":"evt_1"}', NOW + 301),  # replayed after the window
        (SECRET, b'{"id":"evt_1"}', NOW - 301),  # from the future
    ],
)
def test_anything_else_does_not_verify(secret: str, body: bytes, now: int) -> None:
    assert not verify(secret, signed(), body, now)


def test_a_changed_timestamp_does_not_verify() -> None:
    headers = signed()
    headers[TIMESTAMP_HEADER] = str(NOW + 1)
    assert not verify(SECRET, headers, b'{"id":"evt_1"}', NOW)


@pytest.mark.parametrize("missing", [TIMESTAMP_HEADER, SIGNATURE_HEADER])
def test_a_missing_header_does_not_verify(missing: str) -> None:
    headers = signed()
    del headers[missing]
    assert not verify(SECRET, headers, b'{"id":"evt_1"}', NOW)


def test_one_of_several_signatures_may_match() -> None:
    headers = signed()
    headers[SIGNATURE_HEADER] = "v1=deadbeef, " + headers[SIGNATURE_HEADER]
    assert verify(SECRET, headers, b'{"id":"evt_1"}', NOW)


def test_the_body_is_canonical_json() -> None:
    assert canonical_body({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


def test_secrets_are_long_and_new_each_time() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(s.startswith("whsec_") and len(s) >= 48 for s in secrets)
