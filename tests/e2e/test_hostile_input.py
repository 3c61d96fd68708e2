"""Hostile input in every free-form field: a 4xx with a clear message, and nothing stored.

Each write route is sent, field by field, very long strings, control characters
and lone surrogates, deeply nested JSON, numbers out of range or of the wrong
kind, `$`-prefixed and dotted keys (where MongoDB would read an operator or a
path), and ids of the wrong shape. Every answer must be a 4xx whose detail
names the field; the database is then checked for what must not be there.
(The session hook in `support.py` also fails any 500 or stack trace.)
"""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from pymongo import MongoClient

from mongoshop.models.common import Document
from tests.e2e.conftest import RunningApp
from tests.e2e.support import (
    MALFORMED_IDS,
    Account,
    Api,
    Mailroom,
    create_product,
    fund,
    money,
    product_body,
    unique,
    unique_email,
)

LONG = "x" * 100_000
DEEP = "<5000 levels of nested arrays>"
"""A placeholder: `as_json` puts raw text nested 5,000 levels deep in its place
(too deep for json.dumps, and for a repr in a test id)."""
DEEP_TEXT = "[" * 5_000 + '"bottom"' + "]" * 5_000

BAD_TEXT = {
    "very long": LONG,
    "NUL character": "Ada\x00Lovelace",
    "escape character": "Ada\x1b[31mLovelace",
    "lone surrogate": "Ada\ud800Lovelace",
    "deeply nested": DEEP,
    "an operator object": {"$ne": ""},
    "a number": 12,
}
BAD_INTEGERS = {
    "huge": 10**30,
    "negative huge": -(10**30),
    "float": 1.5,
    "numeric string": "12",
    "boolean": True,
    "an operator object": {"$gt": 0},
    "deeply nested": DEEP,
}
OPERATOR_KEYS = {"$set": {"roles": ["admin"]}, "roles.0": "admin", "$where": "1"}


@pytest.fixture(scope="module")
def database(sync_client: MongoClient[Document], app: RunningApp) -> Any:
    return sync_client[app.database]


def as_json(body: Any) -> str:
    """Raw JSON text, so what a client library might refuse to write (lone surrogates,
    5,000 levels of nesting) reaches the server as an attacker would send it."""
    return json.dumps(body).replace(json.dumps(DEEP), DEEP_TEXT)


def post_json(client: httpx.Client, url: str, body: Any, headers: Any = None) -> httpx.Response:
    return client.post(
        url,
        content=as_json(body),
        headers={"content-type": "application/json", **(headers or {})},
    )


def patch_json(client: httpx.Client, url: str, body: Any, headers: Any = None) -> httpx.Response:
    return client.patch(
        url,
        content=as_json(body),
        headers={"content-type": "application/json", **(headers or {})},
    )


def assert_refused(response: httpx.Response, field: str | None = None) -> None:
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    assert body["detail"], body
    if field is not None and response.status_code == 422:
        assert field in body["detail"], body


# --- registration -------------------------------------------------------------------------


def registration(**overrides: Any) -> dict[str, Any]:
    return {
        "name": f"Hostile {unique('n')}",
        "email": unique_email(),
        "password": "correct-horse-1",
    } | overrides


def stored_users(database: Any, sent: dict[str, Any], field: str) -> int:
    """Users stored from `sent`, found by a field that was not the hostile one
    (a lone surrogate cannot even be put in a query)."""
    probe = "email" if field == "name" else "name"
    count: int = database.users.count_documents({probe: sent[probe]})
    return count


@pytest.mark.parametrize("field", ["name", "password", "email"])
@pytest.mark.parametrize("value", BAD_TEXT.values(), ids=BAD_TEXT.keys())
def test_registration_refuses_bad_text(
    client: httpx.Client, database: Any, field: str, value: Any
) -> None:
    body = registration(**{field: value})
    if field == "email" and value == LONG:
        body["email"] = LONG + "@example.com"

    response = post_json(client, "/auth/register", body)

    assert_refused(response, field)
    assert stored_users(database, body, field) == 0


@pytest.mark.parametrize("value", BAD_INTEGERS.values(), ids=BAD_INTEGERS.keys())
def test_registration_refuses_a_bad_age(client: httpx.Client, database: Any, value: Any) -> None:
    body = registration(age=value)

    assert_refused(post_json(client, "/auth/register", body), "age")
    assert database.users.count_documents({"email": body["email"]}) == 0


@pytest.mark.parametrize("key", OPERATOR_KEYS)
def test_registration_refuses_operator_and_dotted_keys(
    client: httpx.Client, database: Any, key: str
) -> None:
    top = registration(**{key: OPERATOR_KEYS[key]})
    nested = registration(preferences={key: OPERATOR_KEYS[key]})

    assert_refused(post_json(client, "/auth/register", top), key)
    assert_refused(post_json(client, "/auth/register", nested), key)
    assert database.users.count_documents({"email": {"$in": [top["email"], nested["email"]]}}) == 0


def test_registration_refuses_json_nested_deeper_than_a_parser_should_go(
    client: httpx.Client,
) -> None:
    body = "[" * 100_000 + "]" * 100_000

    response = client.post(
        "/auth/register", content=body, headers={"content-type": "application/json"}
    )

    assert_refused(response)


@pytest.mark.parametrize(
    "name", ["Zoë Ångström", "李小龙", "محمد علي", "Ada 🚀 Lovelace", "e\u0301mile"]
)
def test_real_unicode_names_are_kept_exactly(
    client: httpx.Client, mail: Mailroom, name: str
) -> None:
    body = registration(name=name)
    response = post_json(client, "/auth/register", body)

    assert response.status_code == 202, response.text
    assert Api(client, mail).verify(mail.code_for(body["email"]))["name"] == name


# --- profile updates ----------------------------------------------------------------------


@pytest.fixture
def hostile_user(api: Api) -> Account:
    return api.new_account("Hostile Target")


@pytest.mark.parametrize(
    "body",
    [
        {"name": LONG},
        {"name": "A\x00B"},
        {"name": DEEP},
        {"age": 10**30},
        {"roles.0": "admin"},
        {"$set": {"roles": ["admin"]}},
        {"preferences": {"language": "en", "$where": "1"}},
        {"preferences": {"timezone": "Europe/Paris\x00"}},
    ],
    ids=lambda body: next(iter(body)) + ":" + repr(body)[:30],
)
def test_profile_updates_refuse_hostile_values_and_change_nothing(
    client: httpx.Client, database: Any, hostile_user: Account, body: Document
) -> None:
    from bson import ObjectId

    before = database.users.find_one({"_id": ObjectId(hostile_user.id)})

    response = patch_json(client, f"/users/{hostile_user.id}", body, hostile_user.headers)

    assert_refused(response)
    assert database.users.find_one({"_id": ObjectId(hostile_user.id)}) == before


# --- catalog ------------------------------------------------------------------------------


PRODUCT_FIELDS = {
    "name": BAD_TEXT,
    "description": BAD_TEXT | {"very long": "d" * 10_000},
    "category": BAD_TEXT | {"dollar": "$ne", "dotted": "a.b"},
}


@pytest.mark.parametrize(
    ("field", "value"),
    [(field, value) for field, values in PRODUCT_FIELDS.items() for value in values.values()],
    ids=[f"{field}-{label}" for field, values in PRODUCT_FIELDS.items() for label in values],
)
def test_product_creation_refuses_bad_text(
    client: httpx.Client, database: Any, admin_headers: dict[str, str], field: str, value: Any
) -> None:
    body = product_body() | {field: value}
    probe = "category" if field == "name" else "name"

    response = post_json(client, "/products", body, admin_headers)

    assert_refused(response, field)
    assert database.products.count_documents({probe: body[probe]}) == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"price": money(10**30)},
        {"price": money(-1)},
        {"price": {"amount": 1.5, "currency": "EUR"}},
        {"price": {"amount": 100, "currency": "eur"}},
        {"price": {"amount": 100, "currency": "EUR", "$inc": 1}},
        {"price": {"$gt": 0}},
        {"inventory": {"quantity": 10**30}},
        {"inventory": {"quantity": {"$inc": 5}}},
        {"reviews": {"rating": 1e400, "count": 1}},
        {"tags": ["ok", "$where"]},
        {"tags": ["ok"] * 1000},
        {"tags": [DEEP]},
        {"$set": {"price": 0}},
        {"inventory.quantity": 5},
    ],
    ids=lambda overrides: repr(overrides)[:40],
)
def test_product_creation_refuses_bad_structures(
    client: httpx.Client, database: Any, admin_headers: dict[str, str], overrides: Document
) -> None:
    body = product_body() | overrides
    text = as_json(body).replace('"rating": Infinity', '"rating": 1e400')

    response = client.post(
        "/products", content=text, headers={"content-type": "application/json", **admin_headers}
    )

    assert_refused(response)
    assert database.products.count_documents({"name": body["name"]}) == 0


@pytest.mark.parametrize(
    "change", [10**30, 1.5, "5", {"$inc": 1}, DEEP], ids=["huge", "float", "string", "op", "deep"]
)
def test_inventory_changes_refuse_bad_numbers(
    client: httpx.Client, admin_headers: dict[str, str], change: Any
) -> None:
    product = create_product(client, admin_headers, stock=5)

    response = post_json(
        client, f"/products/{product['id']}/inventory", {"change": change}, admin_headers
    )

    assert_refused(response, "change")
    assert client.get(f"/products/{product['id']}").json()["inventory"]["quantity"] == 5


@pytest.mark.parametrize(
    "params",
    [
        {"q": "q" * 10_000},
        {"q": "\x00"},
        {"category": "$ne"},
        {"min_price": "1e400"},
        {"min_price": str(10**30)},
        {"page": str(10**30)},
        {"page_size": "-1"},
        {"sort": "$natural"},
    ],
    ids=lambda params: repr(params)[:40],
)
def test_product_search_answers_bad_parameters_with_4xx_or_an_honest_empty_page(
    client: httpx.Client, params: dict[str, str]
) -> None:
    response = client.get("/products", params=params)

    if response.status_code == 200:  # a harmless value, treated as plain text
        assert response.json()["items"] == []
    else:
        assert_refused(response)


# --- wallet and orders --------------------------------------------------------------------


@pytest.fixture
def funded(api: Api, client: httpx.Client, admin_headers: dict[str, str]) -> Account:
    buyer = api.new_account(f"Buyer {unique('h')}")
    fund(client, admin_headers, buyer, 5_000)
    return buyer


def balance(client: httpx.Client, account: Account) -> int:
    amount: int = client.get("/accounts/me", headers=account.headers).json()["balance"]["amount"]
    return amount


@pytest.mark.parametrize(
    "body",
    [
        *({"to_account_id": bad, **money(10)} for bad in MALFORMED_IDS),
        {"to_account_id": {"$ne": None}, **money(10)},
        {"to_account_id": DEEP, **money(10)},
        {"to_account_id": "0123456789abcdef01234567", "amount": 10**30, "currency": "EUR"},
        {"to_account_id": "0123456789abcdef01234567", "amount": -5, "currency": "EUR"},
        {"to_account_id": "0123456789abcdef01234567", "amount": 1.5, "currency": "EUR"},
        {"to_account_id": "0123456789abcdef01234567", **money(10), "$inc": {"balance": 1}},
    ],
    ids=lambda body: repr(body)[:50],
)
def test_transfers_refuse_hostile_bodies_and_move_no_money(
    client: httpx.Client, funded: Account, body: Document
) -> None:
    response = post_json(client, "/transfers", body, funded.headers)

    assert_refused(response)
    assert balance(client, funded) == 5_000


@pytest.mark.parametrize(
    "key", ["k" * 1000, "key\x00", "$where", "a" * 10_000], ids=["long", "nul", "dollar", "huge"]
)
def test_idempotency_keys_of_the_wrong_shape_are_refused(
    client: httpx.Client, funded: Account, other_user: Account, key: str
) -> None:
    to_account = client.get("/accounts/me", headers=other_user.headers).json()["id"]
    try:
        response = post_json(
            client,
            "/transfers",
            {"to_account_id": to_account, **money(10)},
            {**funded.headers, "Idempotency-Key": key},
        )
    except httpx.LocalProtocolError:
        return  # the client itself refuses to send a NUL in a header
    if key == "$where":
        assert response.status_code == 201  # a plain value: it is never read as an operator
    else:
        assert_refused(response)
        assert balance(client, funded) == 5_000


@pytest.mark.parametrize(
    "items",
    [
        [{"product_id": bad, "quantity": 1} for bad in MALFORMED_IDS],
        [{"product_id": {"$ne": None}, "quantity": 1}],
        [{"product_id": "0123456789abcdef01234567", "quantity": 10**30}],
        [{"product_id": "0123456789abcdef01234567", "quantity": 0}],
        [{"product_id": "0123456789abcdef01234567", "quantity": 1, "price": 0}],
        [{"product_id": "0123456789abcdef01234567", "quantity": 1}] * 10_000,
        DEEP,
    ],
    ids=["malformed ids", "operator id", "huge quantity", "zero", "extra key", "too many", "deep"],
)
def test_orders_refuse_hostile_items_and_charge_nothing(
    client: httpx.Client, funded: Account, items: Any
) -> None:
    response = post_json(client, "/orders", {"items": items}, funded.headers)

    assert_refused(response)
    assert balance(client, funded) == 5_000


@pytest.mark.parametrize("bad", MALFORMED_IDS)
@pytest.mark.parametrize("route", ["/users/{}", "/products/{}", "/orders/{}"])
def test_ids_of_the_wrong_shape_in_paths_are_404(
    client: httpx.Client, funded: Account, route: str, bad: str
) -> None:
    response = client.get(route.format(bad), headers=funded.headers)

    assert response.status_code == 404, response.text


def test_a_whole_number_written_with_a_decimal_point_is_that_integer(
    client: httpx.Client, database: Any, admin_headers: dict[str, str]
) -> None:
    """JSON (and JSON Schema) count 1200.0 as the integer 1200; money stays an int."""
    body = product_body() | {"price": {"amount": 1200.0, "currency": "EUR"}}

    response = post_json(client, "/products", body, admin_headers)

    assert response.status_code == 201, response.text
    assert response.json()["price"] == money(1_200)
    stored = database.products.find_one({"name": body["name"]})
    assert type(stored["price"]["amount"]) is int


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\x00: y\r\n\r\n",
        b"GET /he alth HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["no request line", "nul in a header", "space in the path"],
)
def test_a_request_too_malformed_for_the_app_is_answered_in_json(
    app: RunningApp, request_bytes: bytes
) -> None:
    """Answered by the HTTP server itself, before any route: JSON like every other error."""
    address = urlsplit(app.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as connection:
        connection.sendall(request_bytes)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")

    assert head.startswith(b"HTTP/1.1 400"), answer
    assert b"content-type: application/json" in head.lower()
    assert b"x-content-type-options: nosniff" in head.lower()
    assert json.loads(body)["error"] == "bad_request"
