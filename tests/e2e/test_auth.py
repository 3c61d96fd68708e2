"""Registration, sign-in and sign-out over HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import RunningApp
from tests.e2e.support import (
    PUBLIC_USER_FIELDS,
    Account,
    Api,
    Mailroom,
    bearer,
    is_object_id,
    unique_email,
)


def registration(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Carol Example",
        "email": unique_email(),
        "password": "correct-horse-1",
    }
    body.update(overrides)
    return body


# --- POST /auth/register ---------------------------------------------------------------


ACCEPTED = {
    "detail": "If this address can be used, a message has been sent to it: "
    "confirm the address with the code it contains (POST /auth/verify)."
}


def test_register_answers_202_and_the_code_confirms_the_account(
    client: httpx.Client, api: Api, mail: Mailroom
) -> None:
    email = unique_email("Mixed.Case")
    response = client.post(
        "/auth/register",
        json=registration(
            email=email,
            age=42,
            preferences={"language": "fr", "timezone": "Europe/Paris", "notifications": False},
        ),
    )

    assert response.status_code == 202
    assert response.json() == ACCEPTED
    user = api.verify(mail.code_for(email))
    assert set(user) == PUBLIC_USER_FIELDS
    assert is_object_id(user["id"])
    assert user["email"] == email.lower()
    assert user["name"] == "Carol Example"
    assert user["age"] == 42
    assert user["status"] == "active"
    assert user["roles"] == ["user"]
    assert user["email_verified"] is True
    assert user["preferences"] == {
        "language": "fr",
        "timezone": "Europe/Paris",
        "notifications": False,
    }
    assert user["login_count"] == 0
    assert user["last_login"] is None
    assert datetime.fromisoformat(user["created_at"]).tzinfo is not None


def test_register_fills_in_defaults(api: Api) -> None:
    user = api.register(**registration())

    assert user["age"] is None
    assert user["preferences"] == {"language": "en", "timezone": "UTC", "notifications": True}


def test_register_accepts_the_age_bounds(api: Api) -> None:
    for age in (18, 120):
        assert api.register(**registration(age=age))["age"] == age


def test_a_taken_address_gets_the_same_answer_and_its_owner_a_notice(
    client: httpx.Client, api: Api, mail: Mailroom
) -> None:
    """Registration does not tell anyone which addresses have accounts."""
    email = unique_email("taken")
    api.register(**registration(email=email))

    again = client.post("/auth/register", json=registration(email=email.upper()))
    new = client.post("/auth/register", json=registration(email=unique_email("free")))

    assert again.status_code == new.status_code == 202
    assert again.json() == new.json() == ACCEPTED
    kinds = mail.kinds_to(email)  # the welcome may come before or after the notice
    assert kinds[0] == "verify_email"
    assert sorted(kinds[1:]) == ["registration_notice", "welcome"]


def test_an_unconfirmed_account_cannot_sign_in_until_its_address_is_confirmed(
    client: httpx.Client, api: Api, mail: Mailroom
) -> None:
    """Refused exactly like a wrong password for a taken address, so a sign-in right after
    the uniform 202 tells nothing about the address (issue 21); once confirmed, it works."""
    email = unique_email("unconfirmed")
    api.register(**registration(email=email), verify=False)
    taken = api.new_account("Owner", password="owners-own-pass-1").email

    before = client.post("/auth/login", json={"email": email, "password": "correct-horse-1"})
    wrong = client.post("/auth/login", json={"email": taken, "password": "correct-horse-1"})

    assert before.status_code == wrong.status_code == 401
    assert before.json() == wrong.json()
    api.verify(mail.code_for(email))
    token = api.login(email, "correct-horse-1")
    assert api.me(token).json()["email_verified"] is True


def test_a_code_works_once_and_a_made_up_one_not_at_all(
    client: httpx.Client, api: Api, mail: Mailroom
) -> None:
    email = unique_email("once")
    api.register(**registration(email=email), verify=False)
    code = mail.code_for(email)
    assert api.verify(code)["email"] == email

    for attempt in (code, "x" * 43):
        response = client.post("/auth/verify", json={"token": attempt})
        assert response.status_code == 404
        assert response.json()["error"] == "invalid_verification_token"


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"email": "not-an-email"}, id="bad-email"),
        pytest.param({"email": ""}, id="empty-email"),
        pytest.param({"password": "short"}, id="short-password"),
        pytest.param({"name": "A"}, id="one-char-name"),
        pytest.param({"name": "  A  "}, id="one-char-name-after-strip"),
        pytest.param({"age": 17}, id="age-17"),
        pytest.param({"age": 121}, id="age-121"),
        pytest.param({"age": "forty"}, id="age-not-a-number"),
        pytest.param({"nickname": "carol"}, id="unknown-field"),
        pytest.param({"$set": {"roles": ["admin"]}}, id="dollar-set-key"),
        pytest.param({"name": {"$ne": ""}}, id="operator-object-as-name"),
        pytest.param({"email": {"$gt": ""}}, id="operator-object-as-email"),
        pytest.param({"status": "active"}, id="status-at-registration"),
        pytest.param({"roles": ["admin"]}, id="roles-at-registration"),
        pytest.param({"_id": "0123456789abcdef01234567"}, id="id-at-registration"),
        pytest.param({"preferences": {"timezone": "Mars/Olympus_Mons"}}, id="bad-timezone"),
        pytest.param({"preferences": {"language": "english"}}, id="bad-language"),
        pytest.param({"preferences": {"theme": "dark"}}, id="unknown-preference"),
    ],
)
def test_register_refuses_invalid_bodies_with_422(
    client: httpx.Client, overrides: dict[str, Any]
) -> None:
    body = registration(**overrides)

    response = client.post("/auth/register", json=body)

    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"


@pytest.mark.parametrize("missing", ["name", "email", "password"])
def test_register_without_a_required_field_is_422(client: httpx.Client, missing: str) -> None:
    body = registration()
    del body[missing]

    response = client.post("/auth/register", json=body)

    assert response.status_code == 422
    assert missing in response.json()["detail"]


@pytest.mark.parametrize(
    ("content", "status", "error"),
    [
        pytest.param(b'{"name": "Carol", "email": ', 400, "invalid_json", id="truncated-json"),
        pytest.param(b"not json at all", 400, "invalid_json", id="garbage"),
        pytest.param(b"", 422, "validation_error", id="empty-body"),
        pytest.param(b"[]", 422, "validation_error", id="json-array"),
        pytest.param(b"null", 422, "validation_error", id="json-null"),
    ],
)
def test_register_with_a_malformed_body_is_400_or_422(
    client: httpx.Client, content: bytes, status: int, error: str
) -> None:
    """Not JSON at all: 400; JSON, but not a registration: 422."""
    response = client.post(
        "/auth/register", content=content, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == status
    assert response.json()["error"] == error


def test_register_with_no_body_at_all_is_422(client: httpx.Client) -> None:
    response = client.post("/auth/register")

    assert response.status_code == 422


def test_a_refused_registration_creates_no_account(client: httpx.Client, api: Api) -> None:
    email = unique_email("refused")
    assert (
        client.post("/auth/register", json=registration(email=email, roles=["admin"])).status_code
        == 422
    )

    # The address is still free, and the account it creates is an ordinary user.
    assert api.register(**registration(email=email))["roles"] == ["user"]


# --- POST /auth/login ------------------------------------------------------------------


def test_login_answers_a_bearer_token(client: httpx.Client, api: Api) -> None:
    email = unique_email()
    api.register(email=email, password="correct-horse-1")

    response = client.post("/auth/login", json={"email": email, "password": "correct-horse-1"})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_at"}
    assert body["token_type"] == "bearer"
    assert isinstance(body["access_token"], str)
    assert len(body["access_token"]) >= 32
    assert datetime.fromisoformat(body["expires_at"]).tzinfo is not None
    me = api.me(body["access_token"])
    assert me.status_code == 200
    assert me.json()["email"] == email


def test_login_is_case_insensitive_on_the_email(client: httpx.Client, api: Api) -> None:
    email = unique_email()
    api.register(email=email, password="correct-horse-1")

    response = client.post(
        "/auth/login", json={"email": email.upper(), "password": "correct-horse-1"}
    )

    assert response.status_code == 200


def test_login_counts_logins(api: Api) -> None:
    account = api.new_account()
    api.login(account.email, account.password)

    me = api.me(account.token).json()

    assert me["login_count"] == 2
    assert me["last_login"] is not None


def test_wrong_password_and_unknown_email_are_the_same_401(
    client: httpx.Client, user: Account
) -> None:
    wrong_password = client.post(
        "/auth/login", json={"email": user.email, "password": "wrong-password-1"}
    )
    unknown_email = client.post(
        "/auth/login", json={"email": unique_email("nobody"), "password": "wrong-password-1"}
    )

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json() == unknown_email.json()
    assert wrong_password.json()["error"] == "invalid_credentials"
    assert wrong_password.headers["www-authenticate"] == "Bearer"


def test_login_to_a_suspended_account_with_the_right_password_is_403(
    client: httpx.Client, user: Account, admin_headers: dict[str, str]
) -> None:
    assert client.post(f"/users/{user.id}/suspend", headers=admin_headers).status_code == 200

    right = client.post("/auth/login", json={"email": user.email, "password": user.password})
    wrong = client.post("/auth/login", json={"email": user.email, "password": "wrong-password-1"})

    assert right.status_code == 403
    assert right.json()["error"] == "account_disabled"
    # Without the password nobody learns that the account exists, let alone its status.
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_credentials"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"email": "someone@e2e.example.com"}, id="no-password"),
        pytest.param({"password": "correct-horse-1"}, id="no-email"),
        pytest.param({"email": "not-an-email", "password": "x"}, id="bad-email"),
        pytest.param({"email": "a@e2e.example.com", "password": ""}, id="empty-password"),
        pytest.param(
            {"email": "a@e2e.example.com", "password": {"$ne": ""}}, id="operator-as-password"
        ),
        pytest.param(
            {"email": {"$regex": ".*"}, "password": "correct-horse-1"}, id="operator-as-email"
        ),
        pytest.param(
            {"email": "a@e2e.example.com", "password": "x", "remember": True}, id="unknown-field"
        ),
        pytest.param([], id="not-an-object"),
    ],
)
def test_malformed_login_is_422(client: httpx.Client, body: Any) -> None:
    response = client.post("/auth/login", json=body)

    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"


@pytest.mark.parametrize("body", [b"{email:", b'{"email": "a@b.c",}', b"[1, 2", b"nul"])
def test_login_with_unparseable_json_is_400(client: httpx.Client, body: bytes) -> None:
    """As the README promises: 400 for a body that is not JSON, 422 for JSON that is
    not a valid request."""
    response = client.post(
        "/auth/login", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


# --- POST /auth/logout -----------------------------------------------------------------


def test_logout_answers_204_and_the_token_is_refused_afterwards(
    client: httpx.Client, api: Api, user: Account
) -> None:
    assert api.me(user.token).status_code == 200

    response = client.post("/auth/logout", headers=user.headers)

    assert response.status_code == 204
    assert response.content == b""
    after = api.me(user.token)
    assert after.status_code == 401
    assert after.headers["www-authenticate"] == "Bearer"
    assert client.post("/auth/logout", headers=user.headers).status_code == 401


def test_logout_ends_only_that_session(client: httpx.Client, api: Api, user: Account) -> None:
    second_token = api.login(user.email, user.password)

    assert client.post("/auth/logout", headers=user.headers).status_code == 204

    assert api.me(second_token).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param(bearer("garbage"), id="garbage-token"),
        pytest.param(bearer("x" * 43), id="well-formed-unknown-token"),
        pytest.param({"Authorization": "Bearer"}, id="empty-bearer"),
        pytest.param({"Authorization": "Basic YWRtaW46YWRtaW4="}, id="basic-scheme"),
        pytest.param({"Authorization": "garbage"}, id="no-scheme"),
    ],
)
def test_logout_without_a_valid_token_is_401(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.post("/auth/logout", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "invalid_credentials"


def test_the_admin_from_the_environment_is_bootstrapped_at_start_up(
    api: Api, app: RunningApp
) -> None:
    token = api.login(app.admin_email, app.admin_password)

    me = api.me(token)

    assert me.status_code == 200
    assert me.json()["email"] == app.admin_email
    assert "admin" in me.json()["roles"]
    assert me.json()["status"] == "active"
