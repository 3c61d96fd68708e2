"""The admin's routes over HTTP: lists, search, suspension, bulk status, statistics."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import RunningApp
from tests.e2e.support import PUBLIC_USER_FIELDS, Account, Api, unique

UNKNOWN_ID = "0123456789abcdef01234567"

ADMIN_ROUTES = [
    pytest.param("GET", "/users", None, id="list"),
    pytest.param("GET", "/users?q=alice&status=active&role=user", None, id="list-filtered"),
    pytest.param("GET", "/users/search/alice", None, id="search"),
    pytest.param("POST", f"/users/{UNKNOWN_ID}/suspend", None, id="suspend"),
    pytest.param(
        "POST", "/users/bulk-status", {"ids": [UNKNOWN_ID], "status": "active"}, id="bulk"
    ),
    pytest.param("GET", "/admin/stats/users", None, id="stats"),
]


def ids_of(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def tagged_accounts(api: Api, tag: str, count: int) -> list[Account]:
    return [api.new_account(f"Tagged {tag} Number{n}") for n in range(count)]


def statuses(client: httpx.Client, headers: dict[str, str], tag: str) -> dict[str, str]:
    """The status of each user whose name carries `tag`, read from the (uncached) list."""
    response = client.get("/users", params={"q": tag, "page_size": 100}, headers=headers)
    assert response.status_code == 200
    return {item["id"]: item["status"] for item in response.json()["items"]}


# --- Who may call them -----------------------------------------------------------------


@pytest.mark.parametrize(("method", "url", "body"), ADMIN_ROUTES)
def test_admin_routes_refuse_an_ordinary_user_with_403(
    client: httpx.Client, user: Account, method: str, url: str, body: Any
) -> None:
    response = client.request(method, url, json=body, headers=user.headers)

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


@pytest.mark.parametrize(("method", "url", "body"), ADMIN_ROUTES)
def test_admin_routes_refuse_no_token_with_401(
    client: httpx.Client, method: str, url: str, body: Any
) -> None:
    response = client.request(method, url, json=body)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_user_cannot_suspend_anyone(
    client: httpx.Client, api: Api, user: Account, other_user: Account
) -> None:
    for target in (other_user, user):
        assert client.post(f"/users/{target.id}/suspend", headers=user.headers).status_code == 403
    assert api.me(other_user.token).status_code == 200


# --- GET /users ------------------------------------------------------------------------


def test_the_list_has_the_page_shape(client: httpx.Client, admin_headers: dict[str, str]) -> None:
    response = client.get("/users", headers=admin_headers)

    assert response.status_code == 200
    page = response.json()
    assert set(page) == {"items", "total", "page", "page_size", "total_pages", "next_after"}
    assert page["page"] == 1
    assert page["page_size"] == 20
    assert page["total"] >= 1
    assert page["total_pages"] == math.ceil(page["total"] / 20)
    assert len(page["items"]) == min(20, page["total"])
    for item in page["items"]:
        assert set(item) == PUBLIC_USER_FIELDS


def test_the_list_pages_newest_first(
    client: httpx.Client, api: Api, admin_headers: dict[str, str]
) -> None:
    tag = unique("page")
    accounts = tagged_accounts(api, tag, 3)

    first = client.get("/users", params={"q": tag, "page_size": 2}, headers=admin_headers).json()
    second = client.get(
        "/users", params={"q": tag, "page_size": 2, "page": 2}, headers=admin_headers
    ).json()
    beyond = client.get(
        "/users", params={"q": tag, "page_size": 2, "page": 3}, headers=admin_headers
    ).json()

    assert (first["total"], first["total_pages"], first["page"]) == (3, 2, 1)
    assert (second["total"], second["page"], second["page_size"]) == (3, 2, 2)
    assert len(first["items"]) == 2
    assert len(second["items"]) == 1
    assert beyond["items"] == []
    assert beyond["total"] == 3
    assert ids_of(first["items"]) + ids_of(second["items"]) == [a.id for a in reversed(accounts)]


def test_the_list_filters_by_words(
    client: httpx.Client, api: Api, admin_headers: dict[str, str]
) -> None:
    tag = unique("words")
    accounts = tagged_accounts(api, tag, 2)
    other = api.new_account(f"Untagged {unique('x')}")

    page = client.get("/users", params={"q": tag.upper()}, headers=admin_headers).json()
    both_words = client.get("/users", params={"q": f"{tag} number1"}, headers=admin_headers).json()
    by_email = client.get(
        "/users", params={"q": other.email.split("@")[0]}, headers=admin_headers
    ).json()

    assert sorted(ids_of(page["items"])) == sorted(a.id for a in accounts)
    assert page["total"] == 2
    assert ids_of(both_words["items"]) == [accounts[1].id]
    assert ids_of(by_email["items"]) == [other.id]


def test_the_list_filters_by_status(
    client: httpx.Client, api: Api, admin_headers: dict[str, str]
) -> None:
    tag = unique("status")
    active, suspended = tagged_accounts(api, tag, 2)
    assert client.post(f"/users/{suspended.id}/suspend", headers=admin_headers).status_code == 200

    only_suspended = client.get(
        "/users", params={"status": "suspended", "page_size": 100}, headers=admin_headers
    ).json()
    tagged_active = client.get(
        "/users", params={"status": "active", "q": tag}, headers=admin_headers
    ).json()
    tagged_inactive = client.get(
        "/users", params={"status": "inactive", "q": tag}, headers=admin_headers
    ).json()

    assert {item["status"] for item in only_suspended["items"]} == {"suspended"}
    assert suspended.id in ids_of(only_suspended["items"])
    assert ids_of(tagged_active["items"]) == [active.id]
    assert tagged_inactive["items"] == []
    assert tagged_inactive["total"] == 0


def test_the_list_filters_by_role(
    client: httpx.Client, api: Api, app: RunningApp, admin_headers: dict[str, str]
) -> None:
    tag = unique("role")
    account = api.new_account(f"Role {tag}")

    admins = client.get(
        "/users", params={"role": "admin", "page_size": 100}, headers=admin_headers
    ).json()
    tagged_admins = client.get(
        "/users", params={"role": "admin", "q": tag}, headers=admin_headers
    ).json()
    tagged_users = client.get(
        "/users", params={"role": "user", "q": tag}, headers=admin_headers
    ).json()

    assert all("admin" in item["roles"] for item in admins["items"])
    assert app.admin_email in [item["email"] for item in admins["items"]]
    assert tagged_admins["total"] == 0
    assert ids_of(tagged_users["items"]) == [account.id]


def test_a_query_of_no_usable_word_matches_nothing(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    for q in ("a", ".*", "$", "%", "  ", "-"):
        response = client.get("/users", params={"q": q}, headers=admin_headers)
        assert response.status_code == 200
        assert response.json()["total"] == 0, q


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"page_size": 101}, id="page-size-101"),
        pytest.param({"page_size": 0}, id="page-size-0"),
        pytest.param({"page": 0}, id="page-0"),
        pytest.param({"page": -1}, id="page-negative"),
        pytest.param({"page": "two"}, id="page-not-a-number"),
        pytest.param({"status": "deleted"}, id="bad-status"),
        pytest.param({"role": "root"}, id="bad-role"),
        pytest.param({"q": "x" * 201}, id="q-too-long"),
    ],
)
def test_invalid_list_parameters_are_422(
    client: httpx.Client, admin_headers: dict[str, str], params: dict[str, Any]
) -> None:
    response = client.get("/users", params=params, headers=admin_headers)

    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"


def test_the_largest_page_size_is_accepted(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    response = client.get("/users", params={"page_size": 100}, headers=admin_headers)

    assert response.status_code == 200
    assert response.json()["page_size"] == 100


# --- GET /users/search/{query} ---------------------------------------------------------


def test_search_is_accent_and_case_insensitive_and_matches_prefixes(
    client: httpx.Client, api: Api, admin_headers: dict[str, str]
) -> None:
    tag = unique("s")
    account = api.new_account(f"Élodie Núñez-{tag}")

    def search(query: str) -> list[str]:
        response = client.get(f"/users/search/{query}", headers=admin_headers)
        assert response.status_code == 200
        return ids_of(response.json())

    assert search(f"elodie {tag}") == [account.id]
    assert search(f"ÉLO {tag[:6]}") == [account.id]
    assert search(f"nunez {tag}") == [account.id]
    assert search(f"Núñ {tag}") == [account.id]
    assert search(tag) == [account.id]
    # A prefix, not any substring; and every word must match.
    assert search(f"lodie {tag}") == []
    assert search(f"elodie {tag} zzz") == []


def test_search_answers_public_users(
    client: httpx.Client, api: Api, admin_headers: dict[str, str]
) -> None:
    tag = unique("pub")
    api.new_account(f"Public {tag}")

    response = client.get(f"/users/search/{tag}", headers=admin_headers)

    assert response.status_code == 200
    assert [set(item) for item in response.json()] == [PUBLIC_USER_FIELDS]


def test_search_respects_its_limit(
    client: httpx.Client, api: Api, admin_headers: dict[str, str]
) -> None:
    tag = unique("lim")
    tagged_accounts(api, tag, 3)

    limited = client.get(f"/users/search/{tag}", params={"limit": 2}, headers=admin_headers)

    assert limited.status_code == 200
    assert len(limited.json()) == 2


@pytest.mark.parametrize("query", [".*", "(a+)+$", "$where", "a", "%00"])
def test_search_never_treats_input_as_a_pattern(
    client: httpx.Client, admin_headers: dict[str, str], query: str
) -> None:
    response = client.get(f"/users/search/{query}", headers=admin_headers)

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    ("query", "params"),
    [
        pytest.param("x" * 201, {}, id="query-too-long"),
        pytest.param("alice", {"limit": 0}, id="limit-0"),
        pytest.param("alice", {"limit": 101}, id="limit-101"),
    ],
)
def test_invalid_search_parameters_are_422(
    client: httpx.Client, admin_headers: dict[str, str], query: str, params: dict[str, Any]
) -> None:
    response = client.get(f"/users/search/{query}", params=params, headers=admin_headers)

    assert response.status_code == 422


# --- POST /users/{id}/suspend ----------------------------------------------------------


def test_suspending_ends_the_users_sessions(
    client: httpx.Client, api: Api, user: Account, admin_headers: dict[str, str]
) -> None:
    second_token = api.login(user.email, user.password)

    response = client.post(f"/users/{user.id}/suspend", headers=admin_headers)

    assert response.status_code == 200
    assert response.json()["id"] == user.id
    assert response.json()["status"] == "suspended"
    for token in (user.token, second_token):
        refused = api.me(token)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
    assert client.get(f"/users/{user.id}", headers=admin_headers).json()["status"] == "suspended"


def test_suspending_twice_is_still_200(
    client: httpx.Client, user: Account, admin_headers: dict[str, str]
) -> None:
    for _ in range(2):
        response = client.post(f"/users/{user.id}/suspend", headers=admin_headers)
        assert response.status_code == 200
        assert response.json()["status"] == "suspended"


@pytest.mark.parametrize("bad_id", [UNKNOWN_ID, "not-an-id", "abcdefghijkl"])
def test_suspending_an_unknown_or_malformed_id_is_404(
    client: httpx.Client, admin_headers: dict[str, str], bad_id: str
) -> None:
    response = client.post(f"/users/{bad_id}/suspend", headers=admin_headers)

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_an_admin_reactivates_a_suspended_user(
    client: httpx.Client, api: Api, user: Account, admin_headers: dict[str, str]
) -> None:
    assert client.post(f"/users/{user.id}/suspend", headers=admin_headers).status_code == 200

    response = client.patch(f"/users/{user.id}", json={"status": "active"}, headers=admin_headers)

    assert response.status_code == 200
    # Suspension ended the old sessions for good; signing in works again.
    assert api.me(user.token).status_code == 401
    assert api.me(api.login(user.email, user.password)).status_code == 200


# --- POST /users/bulk-status -----------------------------------------------------------


def test_bulk_status_changes_many_users_and_counts_real_changes(
    client: httpx.Client, api: Api, admin_headers: dict[str, str]
) -> None:
    tag = unique("bulk")
    first, second, bystander = tagged_accounts(api, tag, 3)
    body = {"ids": [first.id, second.id, UNKNOWN_ID], "status": "inactive"}

    response = client.post("/users/bulk-status", json=body, headers=admin_headers)

    assert response.status_code == 200
    assert response.json() == {"modified": 2}
    assert statuses(client, admin_headers, tag) == {
        first.id: "inactive",
        second.id: "inactive",
        bystander.id: "active",
    }
    assert api.me(first.token).status_code == 401
    assert api.me(bystander.token).status_code == 200
    again = client.post("/users/bulk-status", json=body, headers=admin_headers)
    assert again.json() == {"modified": 0}
    back = client.post(
        "/users/bulk-status",
        json={"ids": [first.id, second.id], "status": "active"},
        headers=admin_headers,
    )
    assert back.json() == {"modified": 2}
    assert statuses(client, admin_headers, tag) == {
        first.id: "active",
        second.id: "active",
        bystander.id: "active",
    }


def test_bulk_suspension_ends_sessions_like_a_single_suspension(
    client: httpx.Client, api: Api, user: Account, admin_headers: dict[str, str]
) -> None:
    body = {"ids": [user.id], "status": "suspended"}
    assert client.post("/users/bulk-status", json=body, headers=admin_headers).status_code == 200
    assert api.me(user.token).status_code == 401

    body = {"ids": [user.id], "status": "active"}
    assert client.post("/users/bulk-status", json=body, headers=admin_headers).status_code == 200

    # Reactivation lets the user sign in again, but does not revive the old session.
    assert api.me(user.token).status_code == 401
    assert api.me(api.login(user.email, user.password)).status_code == 200


def test_bulk_status_with_a_malformed_id_is_404_and_changes_nothing(
    client: httpx.Client, api: Api, admin_headers: dict[str, str]
) -> None:
    tag = unique("bulkbad")
    first, second = tagged_accounts(api, tag, 2)

    response = client.post(
        "/users/bulk-status",
        json={"ids": [first.id, "not-an-id", second.id], "status": "suspended"},
        headers=admin_headers,
    )

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert statuses(client, admin_headers, tag) == {first.id: "active", second.id: "active"}
    assert api.me(first.token).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"ids": [], "status": "active"}, id="empty-ids"),
        pytest.param({"ids": [UNKNOWN_ID]}, id="no-status"),
        pytest.param({"status": "active"}, id="no-ids"),
        pytest.param({"ids": [UNKNOWN_ID], "status": "deleted"}, id="bad-status"),
        pytest.param({"ids": UNKNOWN_ID, "status": "active"}, id="ids-not-a-list"),
        pytest.param({"ids": [{"$ne": None}], "status": "active"}, id="operator-as-id"),
        pytest.param({"ids": [UNKNOWN_ID] * 1001, "status": "active"}, id="too-many-ids"),
        pytest.param({"ids": [UNKNOWN_ID], "status": "active", "filter": {}}, id="unknown-field"),
    ],
)
def test_invalid_bulk_status_bodies_are_422(
    client: httpx.Client, admin_headers: dict[str, str], body: dict[str, Any]
) -> None:
    response = client.post("/users/bulk-status", json=body, headers=admin_headers)

    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"


# --- GET /admin/stats/users ------------------------------------------------------------


def user_stats(client: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    # Figures computed now: the tests compare them across the changes they make.
    response = client.get("/admin/stats/users", headers={**headers, "Cache-Control": "no-cache"})
    assert response.status_code == 200
    stats: dict[str, Any] = response.json()
    return stats


def test_user_statistics_have_their_shape(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    stats = user_stats(client, admin_headers)

    assert set(stats) == {
        "total",
        "by_status",
        "signups_this_month",
        "top_by_logins",
        "computed_at",
    }
    assert set(stats["by_status"]) == {"active", "inactive", "suspended"}
    assert sum(stats["by_status"].values()) == stats["total"]
    assert 0 < stats["signups_this_month"] <= stats["total"]
    top = stats["top_by_logins"]
    assert 1 <= len(top) <= 10
    for row in top:
        assert set(row) == {"id", "name", "email", "login_count"}
    counts = [row["login_count"] for row in top]
    assert counts == sorted(counts, reverse=True)


def test_user_statistics_follow_registrations_and_suspensions(
    client: httpx.Client, api: Api, admin_headers: dict[str, str]
) -> None:
    before = user_stats(client, admin_headers)

    account = api.new_account(f"Stats {unique('st')}")
    registered = user_stats(client, admin_headers)
    assert client.post(f"/users/{account.id}/suspend", headers=admin_headers).status_code == 200
    suspended = user_stats(client, admin_headers)

    assert registered["total"] == before["total"] + 1
    assert registered["signups_this_month"] == before["signups_this_month"] + 1
    assert registered["by_status"]["active"] == before["by_status"]["active"] + 1
    assert suspended["total"] == registered["total"]
    assert suspended["by_status"]["active"] == registered["by_status"]["active"] - 1
    assert suspended["by_status"]["suspended"] == registered["by_status"]["suspended"] + 1


def test_the_most_active_user_leads_the_logins_ranking(
    client: httpx.Client, api: Api, admin_headers: dict[str, str]
) -> None:
    account = api.new_account(f"Busy {unique('busy')}")
    leader = user_stats(client, admin_headers)["top_by_logins"][0]["login_count"]
    for _ in range(leader):  # the account has one login already: it ends with leader + 1
        api.login(account.email, account.password)

    top = user_stats(client, admin_headers)["top_by_logins"]

    assert top[0]["id"] == account.id
    assert top[0]["login_count"] == leader + 1
    assert top[0]["email"] == account.email
