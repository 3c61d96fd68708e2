"""One's own profile over HTTP: reading it, changing it, and not seeing anyone else's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.support import PUBLIC_USER_FIELDS, Account, Api, bearer, parse_time, unique

MALFORMED_IDS = [
    "not-an-id",
    "123",
    "zzzzzzzzzzzzzzzzzzzzzzzz",  # 24 characters, not hexadecimal
    "abcdefghijkl",  # 12 characters: a valid ObjectId to bson, never to us
    "0123456789abcdef012345678",  # 25 hexadecimal characters
    "%24ne",  # "$ne"
    "null",
]
UNKNOWN_ID = "0123456789abcdef01234567"


# --- GET /users/me ---------------------------------------------------------------------


def test_me_answers_the_signed_in_user(api: Api, user: Account) -> None:
    response = api.me(user.token)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_USER_FIELDS
    assert body["id"] == user.id
    assert body["email"] == user.email


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param(bearer("garbage"), id="garbage-token"),
        pytest.param({"Authorization": "Token abc"}, id="other-scheme"),
    ],
)
def test_me_without_a_valid_token_is_401(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.get("/users/me", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


# --- GET /users/{id} -------------------------------------------------------------------


def test_a_user_reads_themselves_by_id(client: httpx.Client, user: Account) -> None:
    response = client.get(f"/users/{user.id}", headers=user.headers)

    assert response.status_code == 200
    assert response.json()["id"] == user.id
    assert set(response.json()) == PUBLIC_USER_FIELDS


def test_another_users_record_is_404_and_never_shown(
    client: httpx.Client, user: Account, other_user: Account
) -> None:
    response = client.get(f"/users/{other_user.id}", headers=user.headers)

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert other_user.email not in response.text
    assert other_user.name not in response.text


def test_another_user_and_an_unknown_id_look_the_same(
    client: httpx.Client, user: Account, other_user: Account
) -> None:
    existing = client.get(f"/users/{other_user.id}", headers=user.headers)
    missing = client.get(f"/users/{UNKNOWN_ID}", headers=user.headers)

    assert existing.status_code == missing.status_code == 404
    assert existing.json()["error"] == missing.json()["error"]
    assert existing.json()["detail"].replace(other_user.id, "ID") == missing.json()[
        "detail"
    ].replace(UNKNOWN_ID, "ID")


def test_an_admin_reads_anyone(
    client: httpx.Client, user: Account, admin_headers: dict[str, str]
) -> None:
    response = client.get(f"/users/{user.id}", headers=admin_headers)

    assert response.status_code == 200
    assert response.json()["email"] == user.email


def test_an_admin_reading_an_unknown_id_gets_404(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    response = client.get(f"/users/{UNKNOWN_ID}", headers=admin_headers)

    assert response.status_code == 404


@pytest.mark.parametrize("bad_id", MALFORMED_IDS)
def test_a_malformed_id_is_404_never_500(
    client: httpx.Client, user: Account, admin_headers: dict[str, str], bad_id: str
) -> None:
    for headers in (user.headers, admin_headers):
        response = client.get(f"/users/{bad_id}", headers=headers)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


def test_reading_a_user_by_id_needs_a_token(client: httpx.Client, user: Account) -> None:
    response = client.get(f"/users/{user.id}")

    assert response.status_code == 401


# --- PATCH /users/{id} -----------------------------------------------------------------


def patch(client: httpx.Client, account: Account, body: Any, **kwargs: Any) -> httpx.Response:
    return client.patch(f"/users/{account.id}", json=body, headers=account.headers, **kwargs)


def test_a_user_changes_their_name_age_and_preferences(
    client: httpx.Client, api: Api, user: Account
) -> None:
    preferences = {"language": "de", "timezone": "Europe/Berlin", "notifications": False}

    response = patch(client, user, {"name": "Alice Renamed", "age": 33, "preferences": preferences})

    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Alice Renamed"
    assert body["age"] == 33
    assert body["preferences"] == preferences
    assert parse_time(body["updated_at"]) >= parse_time(body["created_at"])
    me = api.me(user.token).json()
    assert (me["name"], me["age"], me["preferences"]) == ("Alice Renamed", 33, preferences)


def test_a_patch_changes_only_the_fields_sent(client: httpx.Client, user: Account) -> None:
    before = patch(client, user, {"age": 40}).json()

    after = patch(client, user, {"name": "Alice Partial"}).json()

    assert after["age"] == 40
    assert after["email"] == before["email"]
    assert after["preferences"] == before["preferences"]


def test_age_null_clears_the_age(client: httpx.Client, api: Api, user: Account) -> None:
    assert patch(client, user, {"age": 50}).json()["age"] == 50

    response = patch(client, user, {"age": None})

    assert response.status_code == 200
    assert response.json()["age"] is None
    assert api.me(user.token).json()["age"] is None


@pytest.mark.parametrize("field", ["name", "preferences", "password"])
def test_null_for_a_field_other_than_age_is_422(
    client: httpx.Client, user: Account, field: str
) -> None:
    response = patch(client, user, {field: None})

    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"


def test_an_empty_patch_is_a_successful_no_op(
    client: httpx.Client, api: Api, user: Account
) -> None:
    before = api.me(user.token).json()

    response = patch(client, user, {})

    assert response.status_code == 200
    assert response.json() == before


def test_repeating_a_patch_is_still_200(client: httpx.Client, user: Account) -> None:
    first = patch(client, user, {"name": "Alice Same"})
    second = patch(client, user, {"name": "Alice Same"})

    assert first.status_code == second.status_code == 200
    assert second.json()["name"] == "Alice Same"


def test_changing_the_password_replaces_it_and_ends_sessions(
    client: httpx.Client, api: Api, user: Account
) -> None:
    response = patch(
        client, user, {"password": "a-brand-new-password", "current_password": user.password}
    )

    assert response.status_code == 200
    old = client.post("/auth/login", json={"email": user.email, "password": user.password})
    assert old.status_code == 401
    new_token = api.login(user.email, "a-brand-new-password")
    assert api.me(new_token).status_code == 200
    # A new password signs the account out everywhere, this session included.
    assert api.me(user.token).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        pytest.param({"password": "a-brand-new-password"}, 403, "forbidden", id="none"),
        pytest.param(
            {"password": "a-brand-new-password", "current_password": "wrong-guess"},
            403,
            "forbidden",
            id="wrong",
        ),
    ],
)
def test_changing_the_password_needs_the_current_one(
    client: httpx.Client, api: Api, user: Account, body: dict[str, str], status: int, error: str
) -> None:
    response = patch(client, user, body)

    assert response.status_code == status
    assert response.json()["error"] == error
    assert api.me(user.token).status_code == 200
    assert api.login(user.email, user.password)


def test_an_admin_resets_a_password_and_the_user_is_signed_out(
    client: httpx.Client, api: Api, user: Account, admin_headers: dict[str, str]
) -> None:
    response = client.post(
        f"/users/{user.id}/password-reset",
        json={"new_password": "reset-by-admin-1"},
        headers=admin_headers,
    )

    assert response.status_code == 200
    assert api.me(user.token).status_code == 401
    fresh = api.login(user.email, "reset-by-admin-1")
    assert api.me(fresh).status_code == 200
    by_user = client.post(
        f"/users/{user.id}/password-reset",
        json={"new_password": "reset-by-self-1"},
        headers=bearer(fresh),
    )
    assert by_user.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"status": "suspended"}, id="status"),
        pytest.param({"status": "active"}, id="status-unchanged"),
        pytest.param({"roles": ["user", "admin"]}, id="roles"),
        pytest.param({"name": "Alice Admin", "roles": ["admin"]}, id="roles-with-name"),
    ],
)
def test_a_user_may_not_set_status_or_roles(
    client: httpx.Client, api: Api, user: Account, body: dict[str, Any]
) -> None:
    response = patch(client, user, body)

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    me = api.me(user.token).json()
    assert me["roles"] == ["user"]
    assert me["status"] == "active"
    assert me["name"] == user.name


def test_patching_another_users_id_is_404_and_changes_nothing(
    client: httpx.Client, user: Account, other_user: Account, api: Api
) -> None:
    response = client.patch(
        f"/users/{other_user.id}", json={"name": "Hijacked"}, headers=user.headers
    )

    assert response.status_code == 404
    assert other_user.email not in response.text
    assert api.me(other_user.token).json()["name"] == other_user.name


@pytest.mark.parametrize("bad_id", MALFORMED_IDS)
def test_patching_a_malformed_id_is_404(
    client: httpx.Client, admin_headers: dict[str, str], bad_id: str
) -> None:
    response = client.patch(f"/users/{bad_id}", json={"name": "Nobody"}, headers=admin_headers)

    assert response.status_code == 404


def test_an_admin_patching_an_unknown_id_gets_404(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    response = client.patch(f"/users/{UNKNOWN_ID}", json={"age": 30}, headers=admin_headers)

    assert response.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"$inc": {"login_count": 1}}, id="dollar-inc-key"),
        pytest.param({"$set": {"roles": ["admin"]}}, id="dollar-set-key"),
        pytest.param({"roles.0": "admin"}, id="dotted-key"),
        pytest.param({"email": "new@e2e.example.com"}, id="email-is-not-editable"),
        pytest.param({"login_count": 1000}, id="login-count"),
        pytest.param({"password_hash": "x"}, id="password-hash"),
        pytest.param({"name": {"$ne": ""}}, id="operator-object"),
        pytest.param({"name": "A"}, id="one-char-name"),
        pytest.param({"age": 17}, id="age-17"),
        pytest.param({"age": 121}, id="age-121"),
        pytest.param({"password": "short"}, id="short-password"),
        pytest.param({"preferences": {"timezone": "Nowhere/Town"}}, id="bad-timezone"),
        pytest.param({"preferences": {"language": "EN"}}, id="bad-language"),
        pytest.param([], id="not-an-object"),
    ],
)
def test_invalid_patches_are_422_and_change_nothing(
    client: httpx.Client, api: Api, user: Account, body: Any
) -> None:
    before = api.me(user.token).json()

    response = patch(client, user, body)

    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    assert api.me(user.token).json() == before


def test_a_patch_with_invalid_json_is_400(client: httpx.Client, user: Account) -> None:
    response = client.patch(
        f"/users/{user.id}",
        content=b'{"name": ',
        headers={**user.headers, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


def test_patching_needs_a_token(client: httpx.Client, user: Account) -> None:
    response = client.patch(f"/users/{user.id}", json={"name": "Anonymous"})

    assert response.status_code == 401


def test_an_admin_sets_status_and_roles(
    client: httpx.Client, api: Api, user: Account, admin_headers: dict[str, str]
) -> None:
    promoted = client.patch(
        f"/users/{user.id}", json={"roles": ["user", "admin"]}, headers=admin_headers
    )

    assert promoted.status_code == 200
    assert set(promoted.json()["roles"]) == {"user", "admin"}
    # The user's own session now carries the new role.
    assert client.get("/users", headers=user.headers).status_code == 200

    deactivated = client.patch(
        f"/users/{user.id}", json={"status": "inactive"}, headers=admin_headers
    )

    assert deactivated.status_code == 200
    assert deactivated.json()["status"] == "inactive"
    assert api.me(user.token).status_code == 401
    login = client.post("/auth/login", json={"email": user.email, "password": user.password})
    assert login.status_code == 403

    reactivated = client.patch(
        f"/users/{user.id}", json={"status": "active", "roles": ["user"]}, headers=admin_headers
    )
    assert reactivated.status_code == 200
    assert reactivated.json()["roles"] == ["user"]
    token = api.login(user.email, user.password)
    assert client.get("/users", headers=bearer(token)).status_code == 403


def test_an_admin_edits_another_users_profile(
    client: httpx.Client, api: Api, user: Account, admin_headers: dict[str, str]
) -> None:
    response = client.patch(
        f"/users/{user.id}", json={"name": "Edited By Admin", "age": 77}, headers=admin_headers
    )

    assert response.status_code == 200
    assert api.me(user.token).json()["name"] == "Edited By Admin"
    read = client.get(f"/users/{user.id}", headers=admin_headers)
    assert read.json()["name"] == "Edited By Admin"
    assert read.json()["age"] == 77


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"roles": []}, id="no-roles"),
        pytest.param({"roles": ["superuser"]}, id="unknown-role"),
        pytest.param({"status": "deleted"}, id="unknown-status"),
        pytest.param({"status": None}, id="null-status"),
    ],
)
def test_an_admin_sending_invalid_status_or_roles_gets_422(
    client: httpx.Client, user: Account, admin_headers: dict[str, str], body: dict[str, Any]
) -> None:
    response = client.patch(f"/users/{user.id}", json=body, headers=admin_headers)

    assert response.status_code == 422


def test_a_rename_is_found_by_search(
    client: httpx.Client, user: Account, admin_headers: dict[str, str]
) -> None:
    word = unique("renamed")
    assert patch(client, user, {"name": f"Alice {word}"}).status_code == 200

    found = client.get(f"/users/search/{word}", headers=admin_headers)

    assert [item["id"] for item in found.json()] == [user.id]
