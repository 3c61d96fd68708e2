"""What the commerce end-to-end tests share: products, wallets and orders over real HTTP.

Every helper goes through the session's `httpx.Client`, so each answer is still
checked by `support.check_response` (no 500, one shape of error body).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.support import Account, Api, unique

CURRENCY = "EUR"
UNKNOWN_ID = "0123456789abcdef01234567"
MALFORMED_IDS = [
    "not-an-id",
    "123",
    "zzzzzzzzzzzzzzzzzzzzzzzz",  # 24 characters, not hexadecimal
    "abcdefghijkl",  # 12 characters: a valid ObjectId to bson, never to us
    "0123456789abcdef012345678",  # 25 hexadecimal characters
    "%24ne",  # "$ne"
]
PAGE_KEYS = {"items", "total", "page", "page_size", "total_pages", "next_after"}
ERROR_KEYS = {"error", "detail"}


def money(amount: int, currency: str = CURRENCY) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def unique_category(prefix: str = "cat") -> str:
    """A category no other test uses, so counts and sums over it are exact."""
    return unique(prefix)


def product_body(
    *,
    name: str | None = None,
    category: str | None = None,
    price: int = 1_000,
    stock: int = 0,
    tags: Iterable[str] = (),
    rating: float = 0.0,
    review_count: int = 0,
    description: str = "",
) -> dict[str, Any]:
    return {
        "name": name or f"Product {unique('p')}",
        "description": description,
        "category": category or unique_category(),
        "price": money(price),
        "tags": list(tags),
        "inventory": {"quantity": stock},
        "reviews": {"rating": rating, "count": review_count},
    }


def create_product(
    client: httpx.Client, admin_headers: Mapping[str, str], **fields: Any
) -> dict[str, Any]:
    """POST /products as the admin; the created product."""
    response = client.post("/products", json=product_body(**fields), headers=dict(admin_headers))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def read_product(client: httpx.Client, product_id: str) -> dict[str, Any]:
    response = client.get(f"/products/{product_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def stock_of(client: httpx.Client, product_id: str) -> int:
    quantity: int = read_product(client, product_id)["inventory"]["quantity"]
    return quantity


def account_of(client: httpx.Client, account: Account) -> dict[str, Any]:
    """GET /accounts/me for `account`."""
    response = client.get("/accounts/me", headers=account.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def balance_of(client: httpx.Client, account: Account) -> int:
    balance = account_of(client, account)["balance"]
    assert balance["currency"] == CURRENCY
    amount: int = balance["amount"]
    return amount


def credit(
    client: httpx.Client,
    admin_headers: Mapping[str, str],
    account_id: str,
    amount: int,
    reason: str = "e2e funding",
) -> httpx.Response:
    return client.post(
        f"/accounts/{account_id}/credit",
        json={"amount": amount, "currency": CURRENCY, "reason": reason},
        headers=dict(admin_headers),
    )


def fund(
    client: httpx.Client, admin_headers: Mapping[str, str], account: Account, amount: int
) -> str:
    """Credit `account`'s wallet with `amount`; its account id."""
    account_id: str = account_of(client, account)["id"]
    response = credit(client, admin_headers, account_id, amount)
    assert response.status_code == 200, response.text
    return account_id


def ledger_of(client: httpx.Client, account: Account, **params: Any) -> dict[str, Any]:
    response = client.get("/accounts/me/ledger", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def ledger_total(client: httpx.Client, account: Account) -> int:
    total: int = ledger_of(client, account, page_size=1)["total"]
    return total


def new_buyer(
    api: Api, client: httpx.Client, admin_headers: Mapping[str, str], funds: int = 0
) -> Account:
    """A fresh user, with `funds` in their wallet."""
    account = api.new_account(f"Buyer {unique('b')}")
    if funds:
        fund(client, admin_headers, account, funds)
    return account


def with_key(headers: Mapping[str, str], key: str | None) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key} if key is not None else dict(headers)


def transfer(
    client: httpx.Client,
    sender: Account,
    to_account_id: str,
    amount: Any,
    *,
    currency: str = CURRENCY,
    key: str | None = None,
) -> httpx.Response:
    return client.post(
        "/transfers",
        json={"to_account_id": to_account_id, "amount": amount, "currency": currency},
        headers=with_key(sender.headers, key),
    )


def place_order(
    client: httpx.Client,
    buyer: Account,
    items: Iterable[tuple[str, int]],
    *,
    key: str | None = None,
) -> httpx.Response:
    return client.post(
        "/orders",
        json={"items": [{"product_id": pid, "quantity": qty} for pid, qty in items]},
        headers=with_key(buyer.headers, key),
    )


def orders_total(client: httpx.Client, headers: Mapping[str, str]) -> int:
    response = client.get("/orders", params={"page_size": 1}, headers=dict(headers))
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


def around_now(hours: int = 1) -> tuple[str, str]:
    """An ISO period with a time zone, from `hours` ago to `hours` ahead."""
    now = datetime.now(UTC)
    return (now - timedelta(hours=hours)).isoformat(), (now + timedelta(hours=hours)).isoformat()


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS, body
    if code is not None:
        assert body["error"] == code, body
