"""The application as a whole: health, documentation, unknown routes and methods."""

from __future__ import annotations

import time

import httpx
import pytest

USERS_API = {
    "/health": {"get"},
    "/auth/register": {"post"},
    "/auth/login": {"post"},
    "/auth/logout": {"post"},
    "/users/me": {"get"},
    "/users": {"get"},
    "/users/search/{query}": {"get"},
    "/users/bulk-status": {"post"},
    "/users/{user_id}": {"get", "patch"},
    "/users/{user_id}/suspend": {"post"},
    "/admin/stats/users": {"get"},
}


def test_health_reports_the_database_and_its_writes(client: httpx.Client) -> None:
    deadline = time.monotonic() + 15
    while True:  # the write watch's first round runs as the app starts
        response = client.get("/health")
        if response.json()["writes"] != "unchecked" or time.monotonic() > deadline:
            break
        time.sleep(0.1)

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "writes": "ok",
        "stalled_collections": [],
        "code": "current",
    }


def test_the_interactive_docs_are_served(client: httpx.Client) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger" in response.text.lower()


def test_the_openapi_document_lists_every_route(client: httpx.Client) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path, methods in USERS_API.items():
        assert path in paths, path
        assert methods <= set(paths[path]), path


def test_the_openapi_document_describes_the_error_answers(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert {"202", "422", "429"} <= set(paths["/auth/register"]["post"]["responses"])
    assert {"200", "404", "422"} <= set(paths["/auth/verify"]["post"]["responses"])
    assert {"200", "401", "403", "422"} <= set(paths["/auth/login"]["post"]["responses"])
    assert {"401", "404"} <= set(paths["/users/{user_id}"]["get"]["responses"])


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/no/such/route"),
        ("GET", "/users/me/friends"),
        ("POST", "/auth/nothing"),
        ("GET", "/admin/stats/nothing"),
        ("DELETE", "/nowhere"),
    ],
)
def test_an_unknown_route_is_a_json_404(client: httpx.Client, method: str, url: str) -> None:
    response = client.request(method, url)

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/auth/login"),
        ("GET", "/auth/register"),
        ("PUT", "/auth/login"),
        ("GET", "/auth/logout"),
        ("DELETE", "/users/me"),
        ("POST", "/users/me"),
        ("DELETE", "/users/0123456789abcdef01234567"),
        ("PUT", "/users/0123456789abcdef01234567"),
        ("POST", "/health"),
        ("DELETE", "/admin/stats/users"),
    ],
)
def test_a_wrong_method_is_a_json_405(client: httpx.Client, method: str, url: str) -> None:
    response = client.request(method, url)

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert "allow" in response.headers


def test_answers_are_json_with_the_right_content_type(client: httpx.Client) -> None:
    for url in ("/health", "/no/such/route"):
        assert client.get(url).headers["content-type"] == "application/json"
