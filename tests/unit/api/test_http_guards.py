"""Body size limit, security headers and CORS, on the app itself (no database needed:
every answer here is given before a route touches the shop)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from mongoshop.api.app import create_app
from mongoshop.settings import Settings

ORIGIN = "https://shop.example"


def client_for(**overrides: object) -> httpx.AsyncClient:
    settings = Settings(environment="test", **overrides)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=create_app(settings))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for() as client:
        yield client


def five_megabytes_of_json() -> bytes:
    return json.dumps({"name": "x" * (5 * 1024 * 1024), "email": "a@example.com"}).encode()


async def test_a_5_mb_body_is_refused_with_413_before_it_is_parsed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/auth/register",
        content=five_megabytes_of_json(),
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_streamed_body_without_length_is_cut_off_at_the_limit(
    client: httpx.AsyncClient,
) -> None:
    body = five_megabytes_of_json()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = await client.post(
        "/auth/register", content=chunks(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json() == {
        "error": "payload_too_large",
        "detail": f"the request body is larger than {1024 * 1024} bytes",
    }


async def test_the_limit_is_configurable() -> None:
    async with client_for(max_body_bytes=2048) as small:
        response = await small.post(
            "/auth/login",
            content=json.dumps({"email": "a@example.com", "password": "p" * 4000}),
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 413


@pytest.mark.parametrize("path", ["/no-such-route", "/openapi.json"])
async def test_every_answer_carries_the_security_headers(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy


async def test_only_the_api_docs_page_may_load_its_cdn_scripts(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")

    assert docs.status_code == 200
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]


async def test_cors_is_closed_by_default(client: httpx.AsyncClient) -> None:
    simple = await client.get("/openapi.json", headers={"origin": ORIGIN})
    preflight = await client.options(
        "/auth/login",
        headers={"origin": ORIGIN, "access-control-request-method": "POST"},
    )

    assert "access-control-allow-origin" not in simple.headers
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code == 405


async def test_cors_allows_exactly_the_configured_origins() -> None:
    async with client_for(cors_origins=[ORIGIN]) as client:
        allowed = await client.options(
            "/auth/login",
            headers={
                "origin": ORIGIN,
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type",
            },
        )
        other = await client.options(
            "/auth/login",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-credentials" not in allowed.headers
    assert allowed.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in other.headers


async def test_an_unexpected_error_is_a_json_500_with_the_request_id_and_headers(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Without its lifespan the app has no shop: a route that needs one fails unexpectedly.
    response = await client.get("/products", headers={"X-Request-ID": "req-500-check"})

    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "detail": "internal error"}
    assert "Traceback" not in response.text
    assert response.headers["x-request-id"] == "req-500-check"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert "unhandled error on GET /products" in caplog.text


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("category=lamps&category=desks", "category"),  # the route's own parameter
        ("page=1&page=2", "page"),  # a parameter of one of its dependencies
        ("tags=a&category=x&category=y&q=z", "category"),
    ],
)
async def test_a_single_valued_query_parameter_given_twice_is_a_422(
    client: httpx.AsyncClient, query: str, named: str
) -> None:
    # Refused before the route runs (it could not: this app has no database).
    response = await client.get(f"/products?{query}")

    assert response.status_code == 422
    assert response.json() == {
        "error": "validation_error",
        "detail": f"query parameter {named}: give it once, not 2 times",
    }
