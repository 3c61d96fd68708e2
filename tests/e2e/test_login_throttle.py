"""Sign-in throttling over HTTP: 429 with Retry-After, then the owner gets back in.

Its own app instance with a small limit and a short window (the session's app
keeps the defaults, which a whole test session must not trip over).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.support import Api, AppProcess, Mailroom, app_environment, new_client

WINDOW = 3


DATABASE = f"e2e_throttle_{uuid.uuid4().hex[:16]}"
MAIL_DIR: list[Path] = []
"""Where the throttled app's worker writes its e-mails (set by its fixture)."""


@pytest.fixture(scope="module")
def throttled(mongodb_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir: Path = tmp_path_factory.mktemp("e2e-throttle")
    MAIL_DIR[:] = [workdir / "data" / "mail"]
    env = app_environment(
        mongodb_uri=mongodb_uri,
        database=DATABASE,
        data_dir=workdir / "data",
        extra={
            "MONGOSHOP_LOGIN_MAX_FAILURES": "2",
            "MONGOSHOP_LOGIN_MAX_FAILURES_PER_CLIENT": "4",
            "MONGOSHOP_LOGIN_WINDOW_SECONDS": str(WINDOW),
        },
    )
    process = AppProcess(env, workdir)
    try:
        yield process.start()
    finally:
        process.stop()


@pytest.fixture
def client(throttled: str) -> Iterator[httpx.Client]:
    with new_client(throttled) as client:
        yield client


def sign_in(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/auth/login", json={"email": email, "password": password})


def test_repeated_failures_get_429_with_retry_after_then_recover(
    client: httpx.Client, mongodb_uri: str
) -> None:
    mail = Mailroom(mongodb_uri, DATABASE, MAIL_DIR[0])
    api = Api(client, mail)
    owner = {"email": f"owner-{uuid.uuid4().hex[:8]}@example.com"}
    try:
        api.register(email=owner["email"], password="owner-password-1")  # and confirmed
    finally:
        mail.close()

    codes = [sign_in(client, owner["email"], "guess-password").status_code for _ in range(2)]
    refused = sign_in(client, owner["email"], "owner-password-1")

    assert codes == [401, 401]
    assert refused.status_code == 429
    assert refused.json()["error"] == "too_many_attempts"
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= WINDOW
    time.sleep(retry_after + 0.3)
    assert sign_in(client, owner["email"], "owner-password-1").status_code == 200


def test_one_client_trying_many_e_mails_is_refused(client: httpx.Client) -> None:
    time.sleep(WINDOW + 0.3)  # this client's earlier failures out of the window
    emails = [f"nobody-{uuid.uuid4().hex[:8]}@example.com" for _ in range(5)]

    codes = [sign_in(client, email, "guess-password").status_code for email in emails]

    assert codes == [401, 401, 401, 401, 429]


def test_the_login_route_documents_429(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()

    assert "429" in schema["paths"]["/auth/login"]["post"]["responses"]


def test_a_forwarded_for_header_does_not_choose_the_throttling_key(client: httpx.Client) -> None:
    """No proxy is trusted by default: a client naming a new address in X-Forwarded-For
    on every attempt is still one client, refused after the per-client limit."""
    time.sleep(WINDOW + 0.3)  # this client's earlier failures out of the window
    codes = [
        client.post(
            "/auth/login",
            json={"email": f"nobody-{n}-{uuid.uuid4().hex[:6]}@example.com", "password": "guess-1"},
            headers={"X-Forwarded-For": f"203.0.113.{n + 1}"},
        ).status_code
        for n in range(5)
    ]

    assert codes == [401, 401, 401, 401, 429]
