"""Orders over HTTP: stock and money taken together or not at all, reading, cancelling."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.support import (
    CURRENCY,
    MALFORMED_IDS,
    PAGE_KEYS,
    UNKNOWN_ID,
    Account,
    Api,
    assert_error,
    balance_of,
    create_product,
    is_object_id,
    ledger_of,
    ledger_total,
    money,
    new_buyer,
    orders_total,
    place_order,
    stock_of,
)

ORDER_FIELDS = {
    "id",
    "user_id",
    "items",
    "total",
    "status",
    "created_at",
    "cancelled_at",
    "item_count",
}
ITEM_FIELDS = {"product_id", "name", "quantity", "unit_price"}


@pytest.fixture(scope="module")
def shopper(api: Api, client: httpx.Client, admin_headers: dict[str, str]) -> Account:
    """A funded buyer for the tests that only compare before and after."""
    return new_buyer(api, client, admin_headers, funds=1_000_000)


@pytest.fixture(scope="module")
def stranger(api: Api) -> Account:
    """Another user, who must never see or touch the shopper's orders."""
    return api.new_account("Stranger Example")


@pytest.fixture
def buyer(api: Api, client: httpx.Client, admin_headers: dict[str, str]) -> Account:
    """A fresh buyer with 10 000 in their wallet, for exact balances."""
    return new_buyer(api, client, admin_headers, funds=10_000)


def snapshot(client: httpx.Client, buyer: Account, product_ids: list[str]) -> dict[str, Any]:
    """Everything an order may change: stocks, balance, ledger and orders."""
    return {
        "stock": [stock_of(client, product_id) for product_id in product_ids],
        "balance": balance_of(client, buyer),
        "ledger": ledger_total(client, buyer),
        "orders": orders_total(client, buyer.headers),
    }


# --- POST /orders ----------------------------------------------------------------------


def test_an_order_takes_stock_and_money_at_once(
    client: httpx.Client, admin_headers: dict[str, str], buyer: Account
) -> None:
    lamp = create_product(client, admin_headers, name="Desk Lamp", price=1_250, stock=5)
    bulb = create_product(client, admin_headers, name="Bulb", price=399, stock=10)

    response = place_order(client, buyer, [(lamp["id"], 2), (bulb["id"], 3)])

    assert response.status_code == 201
    assert response.headers["idempotent-replay"] == "false"
    order = response.json()
    assert set(order) == ORDER_FIELDS
    assert is_object_id(order["id"])
    assert order["user_id"] == buyer.id
    assert order["status"] == "completed"
    assert order["cancelled_at"] is None
    assert order["total"] == money(2 * 1_250 + 3 * 399)
    assert order["items"] == [
        {"product_id": lamp["id"], "name": "Desk Lamp", "quantity": 2, "unit_price": money(1_250)},
        {"product_id": bulb["id"], "name": "Bulb", "quantity": 3, "unit_price": money(399)},
    ]
    assert stock_of(client, lamp["id"]) == 3
    assert stock_of(client, bulb["id"]) == 7
    assert balance_of(client, buyer) == 10_000 - 3_697
    entry = ledger_of(client, buyer)["items"][0]
    assert (entry["kind"], entry["direction"], entry["amount"]) == ("order", "debit", money(3_697))
    assert entry["reference_id"] == order["id"]


def test_the_same_product_twice_is_one_line(
    client: httpx.Client, admin_headers: dict[str, str], buyer: Account
) -> None:
    mug = create_product(client, admin_headers, price=800, stock=5)

    response = place_order(client, buyer, [(mug["id"], 1), (mug["id"], 2)])

    assert response.status_code == 201
    assert [(item["product_id"], item["quantity"]) for item in response.json()["items"]] == [
        (mug["id"], 3)
    ]
    assert response.json()["total"] == money(2_400)
    assert stock_of(client, mug["id"]) == 2


def test_an_order_keeps_the_price_it_was_bought_at(
    client: httpx.Client, admin_headers: dict[str, str], buyer: Account
) -> None:
    chair = create_product(client, admin_headers, name="Chair", price=3_000, stock=2)
    order = place_order(client, buyer, [(chair["id"], 1)]).json()

    renamed = client.patch(
        f"/products/{chair['id']}",
        json={"name": "Chair Deluxe", "price": money(9_000)},
        headers=admin_headers,
    )

    assert renamed.status_code == 200
    again = client.get(f"/orders/{order['id']}", headers=buyer.headers).json()
    assert again["items"][0]["name"] == "Chair"
    assert again["items"][0]["unit_price"] == money(3_000)
    assert again["total"] == money(3_000)


def test_buying_the_last_unit_empties_the_stock(
    client: httpx.Client, admin_headers: dict[str, str], buyer: Account
) -> None:
    rare = create_product(client, admin_headers, price=100, stock=1)

    assert place_order(client, buyer, [(rare["id"], 1)]).status_code == 201
    assert stock_of(client, rare["id"]) == 0
    assert_error(place_order(client, buyer, [(rare["id"], 1)]), 409, "out_of_stock")


def test_out_of_stock_is_409_and_nothing_changes(
    client: httpx.Client, admin_headers: dict[str, str], shopper: Account
) -> None:
    plenty = create_product(client, admin_headers, price=500, stock=10)
    scarce = create_product(client, admin_headers, price=500, stock=1)
    ids = [plenty["id"], scarce["id"]]
    before = snapshot(client, shopper, ids)

    # The first line's stock is taken before the second is refused: it must come back.
    response = place_order(client, shopper, [(plenty["id"], 3), (scarce["id"], 2)])

    assert_error(response, 409, "out_of_stock")
    assert snapshot(client, shopper, ids) == before


def test_insufficient_funds_is_409_and_nothing_changes(
    client: httpx.Client, admin_headers: dict[str, str], buyer: Account
) -> None:
    cheap = create_product(client, admin_headers, price=1_000, stock=10)
    dear = create_product(client, admin_headers, price=9_001, stock=10)
    ids = [cheap["id"], dear["id"]]
    before = snapshot(client, buyer, ids)

    response = place_order(client, buyer, [(cheap["id"], 1), (dear["id"], 1)])

    assert_error(response, 409, "insufficient_funds")
    assert snapshot(client, buyer, ids) == before
    assert before["balance"] == 10_000


def test_an_empty_wallet_buys_nothing(
    client: httpx.Client, admin_headers: dict[str, str], user: Account
) -> None:
    product = create_product(client, admin_headers, price=1, stock=1)

    assert_error(place_order(client, user, [(product["id"], 1)]), 409, "insufficient_funds")
    assert stock_of(client, product["id"]) == 1


@pytest.mark.parametrize("missing", [UNKNOWN_ID, *MALFORMED_IDS])
def test_an_unknown_product_is_404_and_nothing_changes(
    client: httpx.Client, admin_headers: dict[str, str], shopper: Account, missing: str
) -> None:
    real = create_product(client, admin_headers, price=100, stock=5)
    before = snapshot(client, shopper, [real["id"]])

    response = place_order(client, shopper, [(real["id"], 1), (missing, 1)])

    assert_error(response, 404, "not_found")
    assert snapshot(client, shopper, [real["id"]]) == before


def _line(quantity: Any = 1, product_id: str = UNKNOWN_ID) -> dict[str, Any]:
    return {"product_id": product_id, "quantity": quantity}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"items": [_line(0)]}, id="quantity-0"),
        pytest.param({"items": [_line(-1)]}, id="negative-quantity"),
        pytest.param({"items": [_line(1001)]}, id="quantity-1001"),
        pytest.param({"items": [_line(1.5)]}, id="float-quantity"),
        pytest.param({"items": [_line("2")]}, id="string-quantity"),
        pytest.param({"items": []}, id="no-items"),
        pytest.param({"items": [_line()] * 101}, id="101-items"),
        pytest.param({}, id="missing-items"),
        pytest.param({"items": [{"product_id": UNKNOWN_ID}]}, id="missing-quantity"),
        pytest.param({"items": [{"quantity": 1}]}, id="missing-product"),
        pytest.param({"items": [{**_line(), "unit_price": 1}]}, id="price-from-client"),
        pytest.param({"items": [_line()], "total": money(1)}, id="total-from-client"),
        pytest.param({"items": [_line()], "$where": "1"}, id="dollar-key"),
        pytest.param({"items": [{"product_id": {"$ne": None}, "quantity": 1}]}, id="operator-id"),
        pytest.param([_line()], id="a-list"),
    ],
)
def test_an_invalid_order_is_422(client: httpx.Client, shopper: Account, body: Any) -> None:
    response = client.post("/orders", json=body, headers=shopper.headers)

    assert_error(response, 422, "validation_error")


def test_one_hundred_lines_are_allowed(
    client: httpx.Client, admin_headers: dict[str, str], shopper: Account
) -> None:
    product = create_product(client, admin_headers, price=1, stock=100)

    response = place_order(client, shopper, [(product["id"], 1)] * 100)

    assert response.status_code == 201
    assert response.json()["total"] == money(100)
    assert stock_of(client, product["id"]) == 0


# --- Idempotency-Key -------------------------------------------------------------------


def test_a_retried_order_with_the_same_key_is_placed_once(
    client: httpx.Client, admin_headers: dict[str, str], buyer: Account
) -> None:
    product = create_product(client, admin_headers, price=1_500, stock=4)
    key = str(uuid.uuid4())

    first = place_order(client, buyer, [(product["id"], 2)], key=key)
    second = place_order(client, buyer, [(product["id"], 2)], key=key)

    assert first.status_code == second.status_code == 201
    assert first.headers["idempotent-replay"] == "false"
    assert second.headers["idempotent-replay"] == "true"
    assert second.json() == first.json()
    assert stock_of(client, product["id"]) == 2
    assert balance_of(client, buyer) == 10_000 - 3_000
    assert orders_total(client, buyer.headers) == 1


def test_the_same_order_in_another_line_order_is_a_replay(
    client: httpx.Client, admin_headers: dict[str, str], buyer: Account
) -> None:
    one = create_product(client, admin_headers, price=100, stock=5)
    two = create_product(client, admin_headers, price=200, stock=5)
    key = str(uuid.uuid4())

    first = place_order(client, buyer, [(one["id"], 1), (two["id"], 2)], key=key)
    second = place_order(client, buyer, [(two["id"], 2), (one["id"], 1)], key=key)

    assert second.status_code == 201
    assert second.headers["idempotent-replay"] == "true"
    assert second.json()["id"] == first.json()["id"]
    assert balance_of(client, buyer) == 10_000 - 500


def test_the_same_key_for_another_order_is_409(
    client: httpx.Client, admin_headers: dict[str, str], buyer: Account
) -> None:
    product = create_product(client, admin_headers, price=1_000, stock=5)
    key = str(uuid.uuid4())
    assert place_order(client, buyer, [(product["id"], 1)], key=key).status_code == 201

    response = place_order(client, buyer, [(product["id"], 2)], key=key)

    assert_error(response, 409, "idempotency_key_reused")
    assert stock_of(client, product["id"]) == 4
    assert balance_of(client, buyer) == 9_000


@pytest.mark.parametrize("key", ["has space", "k" * 129], ids=["space", "129-characters"])
def test_an_invalid_order_key_is_422_and_nothing_changes(
    client: httpx.Client, admin_headers: dict[str, str], shopper: Account, key: str
) -> None:
    product = create_product(client, admin_headers, price=100, stock=5)
    before = snapshot(client, shopper, [product["id"]])

    response = place_order(client, shopper, [(product["id"], 1)], key=key)

    assert_error(response, 422, "validation_error")
    assert snapshot(client, shopper, [product["id"]]) == before


# --- GET /orders and GET /orders/{id} --------------------------------------------------


@pytest.fixture(scope="module")
def placed(
    client: httpx.Client, admin_headers: dict[str, str], shopper: Account, stranger: Account
) -> dict[str, list[dict[str, Any]]]:
    """Three orders of the shopper and one of the stranger, oldest first."""
    product = create_product(client, admin_headers, price=10, stock=100)
    mine = [place_order(client, shopper, [(product["id"], n)]).json() for n in (1, 2, 3)]
    fund_stranger = client.get("/accounts/me", headers=stranger.headers).json()["id"]
    assert (
        client.post(
            f"/accounts/{fund_stranger}/credit",
            json={"amount": 100, "currency": CURRENCY, "reason": "e2e"},
            headers=admin_headers,
        ).status_code
        == 200
    )
    theirs = [place_order(client, stranger, [(product["id"], 1)]).json()]
    return {"mine": mine, "theirs": theirs}


def test_a_buyer_lists_only_their_own_orders_newest_first(
    client: httpx.Client, shopper: Account, placed: dict[str, list[dict[str, Any]]]
) -> None:
    response = client.get("/orders", params={"page_size": 100}, headers=shopper.headers)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == PAGE_KEYS
    ids = [order["id"] for order in body["items"]]
    assert body["total"] == len(ids)
    assert all(order["user_id"] == shopper.id for order in body["items"])
    assert placed["theirs"][0]["id"] not in ids
    mine = [order["id"] for order in placed["mine"]]
    assert [order_id for order_id in ids if order_id in mine] == list(reversed(mine))
    for order in body["items"]:
        assert set(order) == ORDER_FIELDS


def test_the_order_list_is_paginated(
    client: httpx.Client, stranger: Account, placed: dict[str, list[dict[str, Any]]]
) -> None:
    first = client.get("/orders", params={"page": 1, "page_size": 1}, headers=stranger.headers)
    second = client.get("/orders", params={"page": 2, "page_size": 1}, headers=stranger.headers)

    assert first.status_code == second.status_code == 200
    assert [order["id"] for order in first.json()["items"]] == [placed["theirs"][0]["id"]]
    assert (first.json()["total"], first.json()["total_pages"]) == (1, 1)
    assert second.json()["items"] == []


def test_the_admin_lists_everyones_orders(
    client: httpx.Client,
    admin_headers: dict[str, str],
    shopper: Account,
    stranger: Account,
    placed: dict[str, list[dict[str, Any]]],
) -> None:
    response = client.get("/orders", params={"page_size": 100}, headers=admin_headers)

    assert response.status_code == 200
    body = response.json()
    ids = {order["id"] for order in body["items"]}
    assert {order["id"] for order in placed["mine"] + placed["theirs"]} <= ids
    assert body["total"] >= orders_total(client, shopper.headers) + orders_total(
        client, stranger.headers
    )


def _follow(client: httpx.Client, headers: dict[str, str], page_size: int) -> list[list[str]]:
    """Every page of GET /orders, each asked for after the previous page's `next_after`."""
    pages: list[list[str]] = []
    params: dict[str, Any] = {"page_size": page_size}
    while True:
        response = client.get("/orders", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([order["id"] for order in body["items"]])
        if body["next_after"] is None:
            return pages
        assert body["next_after"] == pages[-1][-1]
        params["after"] = body["next_after"]


def test_orders_page_after_the_last_one_seen(
    client: httpx.Client, shopper: Account, placed: dict[str, list[dict[str, Any]]]
) -> None:
    by_number = client.get("/orders", params={"page_size": 100}, headers=shopper.headers).json()
    everything = [order["id"] for order in by_number["items"]]
    assert by_number["next_after"] is None  # one page holds them all

    pages = _follow(client, shopper.headers, page_size=2)

    assert [order_id for page in pages for order_id in page] == everything
    assert all(len(page) == 2 for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= 2  # no empty page at the end: `next_after` knew


def test_the_admin_pages_everyones_orders_after_an_id(
    client: httpx.Client, admin_headers: dict[str, str], placed: dict[str, list[dict[str, Any]]]
) -> None:
    first = client.get("/orders", params={"page_size": 3}, headers=admin_headers).json()
    by_number = client.get(
        "/orders", params={"page": 2, "page_size": 3}, headers=admin_headers
    ).json()

    after = client.get(
        "/orders", params={"page_size": 3, "after": first["next_after"]}, headers=admin_headers
    ).json()

    assert [o["id"] for o in after["items"]] == [o["id"] for o in by_number["items"]]
    assert after["total"] == first["total"]


def test_paging_after_someone_elses_order_is_404(
    client: httpx.Client, shopper: Account, placed: dict[str, list[dict[str, Any]]]
) -> None:
    theirs = placed["theirs"][0]["id"]

    for after in (theirs, UNKNOWN_ID):
        response = client.get("/orders", params={"after": after}, headers=shopper.headers)
        assert_error(response, 404)
        assert "after" in response.json()["detail"]


def test_a_malformed_after_is_422(client: httpx.Client, shopper: Account) -> None:
    for after in ("nope", "0" * 23, "g" * 24):
        response = client.get("/orders", params={"after": after}, headers=shopper.headers)
        assert_error(response, 422)


def test_the_admins_list_shows_a_new_order_at_once(
    client: httpx.Client, admin_headers: dict[str, str], shopper: Account
) -> None:
    """Everyone's orders are cached by page (a broad listing); a new order drops them."""
    before = client.get("/orders", params={"page_size": 5}, headers=admin_headers).json()
    product = create_product(client, admin_headers, price=1, stock=5)

    placed = place_order(client, shopper, [(product["id"], 1)]).json()

    after = client.get("/orders", params={"page_size": 5}, headers=admin_headers).json()
    assert after["items"][0]["id"] == placed["id"]
    assert after["total"] == before["total"] + 1


@pytest.mark.parametrize(
    "params", [{"page": 0}, {"page_size": 101}], ids=["page-0", "page-size-101"]
)
def test_bad_order_pages_are_422(
    client: httpx.Client, shopper: Account, params: dict[str, int]
) -> None:
    assert_error(client.get("/orders", params=params, headers=shopper.headers), 422)


def test_a_buyer_reads_their_order(
    client: httpx.Client, shopper: Account, placed: dict[str, list[dict[str, Any]]]
) -> None:
    order = placed["mine"][0]

    response = client.get(f"/orders/{order['id']}", headers=shopper.headers)

    assert response.status_code == 200
    assert response.json() == order


def test_another_buyers_order_is_404_like_an_unknown_one(
    client: httpx.Client, shopper: Account, placed: dict[str, list[dict[str, Any]]]
) -> None:
    theirs = placed["theirs"][0]["id"]

    hidden = client.get(f"/orders/{theirs}", headers=shopper.headers)
    missing = client.get(f"/orders/{UNKNOWN_ID}", headers=shopper.headers)

    assert_error(hidden, 404, "not_found")
    assert_error(missing, 404, "not_found")
    assert hidden.json()["detail"].replace(theirs, "ID") == missing.json()["detail"].replace(
        UNKNOWN_ID, "ID"
    )


def test_the_admin_reads_anyones_order(
    client: httpx.Client, admin_headers: dict[str, str], placed: dict[str, list[dict[str, Any]]]
) -> None:
    for order in (placed["mine"][1], placed["theirs"][0]):
        response = client.get(f"/orders/{order['id']}", headers=admin_headers)
        assert response.status_code == 200
        assert response.json() == order


@pytest.mark.parametrize("order_id", [UNKNOWN_ID, *MALFORMED_IDS])
def test_an_unknown_or_malformed_order_id_is_404(
    client: httpx.Client, admin_headers: dict[str, str], shopper: Account, order_id: str
) -> None:
    for headers in (shopper.headers, admin_headers):
        assert_error(client.get(f"/orders/{order_id}", headers=headers), 404, "not_found")
        assert_error(client.post(f"/orders/{order_id}/cancel", headers=headers), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("POST", "/orders", {"items": [_line()]}, id="place"),
        pytest.param("GET", "/orders", None, id="list"),
        pytest.param("GET", f"/orders/{UNKNOWN_ID}", None, id="read"),
        pytest.param("POST", f"/orders/{UNKNOWN_ID}/cancel", None, id="cancel"),
    ],
)
def test_orders_need_a_token(client: httpx.Client, method: str, path: str, body: Any) -> None:
    response = client.request(method, path, json=body)

    assert_error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


# --- POST /orders/{id}/cancel ----------------------------------------------------------


def test_cancelling_restocks_and_refunds_once(
    client: httpx.Client, admin_headers: dict[str, str], buyer: Account
) -> None:
    one = create_product(client, admin_headers, price=700, stock=3)
    two = create_product(client, admin_headers, price=1_100, stock=2)
    order = place_order(client, buyer, [(one["id"], 2), (two["id"], 1)]).json()
    assert balance_of(client, buyer) == 10_000 - 2_500
    assert [stock_of(client, one["id"]), stock_of(client, two["id"])] == [1, 1]

    response = client.post(f"/orders/{order['id']}/cancel", headers=buyer.headers)

    assert response.status_code == 200
    cancelled = response.json()
    assert cancelled["id"] == order["id"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_at"] is not None
    assert cancelled["items"] == order["items"]
    assert balance_of(client, buyer) == 10_000
    assert [stock_of(client, one["id"]), stock_of(client, two["id"])] == [3, 2]
    refund = ledger_of(client, buyer)["items"][0]
    assert (refund["kind"], refund["direction"], refund["amount"]) == (
        "refund",
        "credit",
        money(2_500),
    )
    assert refund["reference_id"] == order["id"]
    assert client.get(f"/orders/{order['id']}", headers=buyer.headers).json() == cancelled

    again = client.post(f"/orders/{order['id']}/cancel", headers=buyer.headers)

    assert_error(again, 409, "conflict")
    assert balance_of(client, buyer) == 10_000
    assert [stock_of(client, one["id"]), stock_of(client, two["id"])] == [3, 2]
    assert ledger_total(client, buyer) == 3  # credit, order, refund


def test_another_user_cannot_cancel_an_order(
    client: httpx.Client, admin_headers: dict[str, str], buyer: Account, stranger: Account
) -> None:
    product = create_product(client, admin_headers, price=400, stock=2)
    order = place_order(client, buyer, [(product["id"], 1)]).json()

    response = client.post(f"/orders/{order['id']}/cancel", headers=stranger.headers)

    assert_error(response, 404, "not_found")
    assert client.get(f"/orders/{order['id']}", headers=buyer.headers).json()["status"] == (
        "completed"
    )
    assert balance_of(client, buyer) == 9_600
    assert stock_of(client, product["id"]) == 1


def test_the_admin_cancels_anyones_order(
    client: httpx.Client, admin_headers: dict[str, str], buyer: Account
) -> None:
    product = create_product(client, admin_headers, price=2_000, stock=1)
    order = place_order(client, buyer, [(product["id"], 1)]).json()

    response = client.post(f"/orders/{order['id']}/cancel", headers=admin_headers)

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["user_id"] == buyer.id
    assert balance_of(client, buyer) == 10_000
    assert stock_of(client, product["id"]) == 1
    assert_error(client.post(f"/orders/{order['id']}/cancel", headers=buyer.headers), 409)


def test_a_replay_after_cancelling_returns_the_cancelled_order(
    client: httpx.Client, admin_headers: dict[str, str], buyer: Account
) -> None:
    product = create_product(client, admin_headers, price=300, stock=3)
    key = str(uuid.uuid4())
    order = place_order(client, buyer, [(product["id"], 1)], key=key).json()
    assert client.post(f"/orders/{order['id']}/cancel", headers=buyer.headers).status_code == 200

    replay = place_order(client, buyer, [(product["id"], 1)], key=key)

    assert replay.status_code == 201
    assert replay.headers["idempotent-replay"] == "true"
    assert replay.json()["id"] == order["id"]
    assert replay.json()["status"] == "cancelled"
    assert balance_of(client, buyer) == 10_000
    assert stock_of(client, product["id"]) == 3
