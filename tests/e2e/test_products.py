"""The catalog over HTTP: public search and reading, and the admin's writes."""

from __future__ import annotations

from collections.abc import Mapping
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
    create_product,
    money,
    parse_time,
    product_body,
    read_product,
    stock_of,
    unique,
    unique_category,
)

MAX_STOCK = 10_000_000

PRODUCT_FIELDS = {
    "id",
    "name",
    "description",
    "category",
    "price",
    "tags",
    "inventory",
    "reviews",
    "created_at",
    "updated_at",
}


class Catalog:
    """Five products in a category of their own, created in this order."""

    def __init__(self, client: httpx.Client, admin_headers: Mapping[str, str]) -> None:
        self.category = unique_category()
        self.word = unique("w")
        specs = [
            ("Alpha", 500, 4.0, ["red", "big"]),
            ("Crème Brûlée", 1_500, 2.5, ["red"]),
            ("Delta", 1_000, 5.0, ["big"]),
            ("Bravo", 2_500, 1.0, ["red", "big", "small"]),
            ("Echo", 1_000, 3.0, []),
        ]
        self.products = [
            create_product(
                client,
                admin_headers,
                name=f"{name} {self.word}",
                category=self.category,
                price=price,
                rating=rating,
                review_count=10,
                tags=tags,
                stock=3,
            )
            for name, price, rating, tags in specs
        ]
        self.ids = [product["id"] for product in self.products]

    def pick(self, *indexes: int) -> list[str]:
        return [self.ids[index] for index in indexes]


@pytest.fixture(scope="module")
def catalog(client: httpx.Client, admin_headers: dict[str, str]) -> Catalog:
    return Catalog(client, admin_headers)


def search(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/products", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == PAGE_KEYS
    return body


def found_ids(client: httpx.Client, **params: Any) -> list[str]:
    return [item["id"] for item in search(client, **params)["items"]]


# --- GET /products ---------------------------------------------------------------------


def test_the_search_answers_a_page_of_public_products(
    client: httpx.Client, catalog: Catalog
) -> None:
    body = search(client, category=catalog.category)

    assert body["total"] == 5
    assert (body["page"], body["page_size"], body["total_pages"]) == (1, 20, 1)
    for item in body["items"]:
        assert set(item) == PRODUCT_FIELDS
        assert item["price"]["currency"] == CURRENCY
        assert isinstance(item["price"]["amount"], int)


def test_the_default_order_is_newest_first(client: httpx.Client, catalog: Catalog) -> None:
    assert found_ids(client, category=catalog.category) == catalog.pick(4, 3, 2, 1, 0)


@pytest.mark.parametrize(
    ("sort", "ascending"),
    [
        pytest.param("created_at", [0, 1, 2, 3, 4], id="created_at"),
        pytest.param("price", [0, 2, 4, 1, 3], id="price"),
        pytest.param("name", [0, 3, 1, 2, 4], id="name"),
        pytest.param("rating", [3, 1, 4, 0, 2], id="rating"),
    ],
)
def test_each_sort_field_in_both_directions(
    client: httpx.Client, catalog: Catalog, sort: str, ascending: list[int]
) -> None:
    up = found_ids(client, category=catalog.category, sort=sort, order="asc")
    down = found_ids(client, category=catalog.category, sort=sort, order="desc")

    assert up == catalog.pick(*ascending)
    # Ties (two prices of 1000) are broken by id in the same direction: a full reversal.
    assert down == list(reversed(up))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("creme brulee", [1], id="accents-removed"),
        pytest.param("CRÈME", [1], id="case-and-accent"),
        pytest.param("brû", [1], id="prefix"),
        pytest.param("alpha", [0], id="one-word"),
        pytest.param("alpha delta", [], id="all-words-must-match"),
        pytest.param(".*", [], id="regex-is-not-a-regex"),
        pytest.param("$where", [], id="operator-is-a-word"),
    ],
)
def test_free_text_search_is_accent_and_case_insensitive(
    client: httpx.Client, catalog: Catalog, query: str, expected: list[int]
) -> None:
    ids = found_ids(client, q=query, category=catalog.category, sort="created_at", order="asc")

    assert ids == catalog.pick(*expected)


def test_free_text_alone_finds_words_of_the_name(client: httpx.Client, catalog: Catalog) -> None:
    assert set(found_ids(client, q=catalog.word)) == set(catalog.ids)
    assert found_ids(client, q=f"creme {catalog.word}") == catalog.pick(1)


def test_the_category_filter_is_exact(client: httpx.Client, catalog: Catalog) -> None:
    assert search(client, category=catalog.category.upper())["total"] == 0
    assert search(client, category=catalog.category[:-1])["total"] == 0


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        pytest.param(["red"], {0, 1, 3}, id="one"),
        pytest.param(["red", "big"], {0, 3}, id="two-means-both"),
        pytest.param(["red", "big", "small"], {3}, id="three"),
        pytest.param(["red", "red"], {0, 1, 3}, id="repeated"),
        pytest.param(["nosuchtag"], set(), id="unknown"),
    ],
)
def test_repeated_tags_must_all_match(
    client: httpx.Client, catalog: Catalog, tags: list[str], expected: set[int]
) -> None:
    ids = found_ids(client, category=catalog.category, tags=tags)

    assert set(ids) == set(catalog.pick(*expected))
    assert len(ids) == len(expected)


def test_a_category_given_twice_is_refused_not_half_applied(
    client: httpx.Client, catalog: Catalog
) -> None:
    response = client.get(
        "/products", params=[("category", catalog.category), ("category", "other")]
    )

    assert response.status_code == 422
    assert "category" in response.json()["detail"]


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        pytest.param({"min_price": 1_000, "max_price": 1_500}, {1, 2, 4}, id="inclusive"),
        pytest.param({"min_price": 1_000}, {1, 2, 3, 4}, id="min-only"),
        pytest.param({"max_price": 500}, {0}, id="max-only"),
        pytest.param({"min_price": 1_000, "max_price": 1_000}, {2, 4}, id="equal"),
        pytest.param({"min_price": 0, "max_price": 499}, set(), id="none"),
        # No price lies in an inverted range: an empty page, not an error (OpenAPI
        # cannot say "min <= max", so the contract accepts any two prices).
        pytest.param({"min_price": 2_000, "max_price": 1_000}, set(), id="min-above-max"),
    ],
)
def test_the_price_range_in_minor_units(
    client: httpx.Client, catalog: Catalog, bounds: dict[str, int], expected: set[int]
) -> None:
    ids = found_ids(client, category=catalog.category, **bounds)

    assert sorted(ids) == sorted(catalog.pick(*expected))


def test_filters_combine(client: httpx.Client, catalog: Catalog) -> None:
    ids = found_ids(client, category=catalog.category, tags=["big"], min_price=600, q=catalog.word)

    assert set(ids) == set(catalog.pick(2, 3))


def test_pages_cover_every_match_once(client: httpx.Client, catalog: Catalog) -> None:
    pages = [
        search(
            client,
            category=catalog.category,
            sort="created_at",
            order="asc",
            page=page,
            page_size=2,
        )
        for page in (1, 2, 3, 4)
    ]

    assert [len(page["items"]) for page in pages] == [2, 2, 1, 0]
    for number, page in enumerate(pages, start=1):
        assert (page["total"], page["page"], page["page_size"], page["total_pages"]) == (
            5,
            number,
            2,
            3,
        )
    assert [item["id"] for page in pages for item in page["items"]] == catalog.ids


def test_a_page_size_of_100_is_allowed(client: httpx.Client, catalog: Catalog) -> None:
    body = search(client, category=catalog.category, page_size=100)

    assert body["page_size"] == 100
    assert body["total_pages"] == 1


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"sort": "popularity"}, id="unknown-sort"),
        pytest.param({"sort": "price.amount"}, id="sort-by-path"),
        pytest.param({"order": "up"}, id="bad-order"),
        pytest.param({"page_size": 101}, id="page-size-101"),
        pytest.param({"page_size": 0}, id="page-size-0"),
        pytest.param({"page": 0}, id="page-0"),
        pytest.param({"min_price": -1}, id="negative-min"),
        pytest.param({"max_price": -5}, id="negative-max"),
        pytest.param({"min_price": "12.5"}, id="fractional-price"),
        pytest.param({"max_price": "ten"}, id="word-price"),
        pytest.param({"min_price": 10**13}, id="price-too-large"),
        pytest.param({"q": "x" * 201}, id="query-too-long"),
        pytest.param({"category": "$where"}, id="category-operator"),
        pytest.param({"tags": ["$ne"]}, id="tag-operator"),
    ],
)
def test_bad_search_parameters_are_422(client: httpx.Client, params: dict[str, Any]) -> None:
    response = client.get("/products", params=params)

    assert_error(response, 422, "validation_error")


# --- GET /products/{id} ----------------------------------------------------------------


def test_a_product_is_read_by_id_without_signing_in(client: httpx.Client, catalog: Catalog) -> None:
    response = client.get(f"/products/{catalog.ids[1]}")

    assert response.status_code == 200
    assert response.json() == catalog.products[1]


def test_an_unknown_product_is_404(client: httpx.Client) -> None:
    assert_error(client.get(f"/products/{UNKNOWN_ID}"), 404, "not_found")


@pytest.mark.parametrize("bad_id", MALFORMED_IDS)
def test_a_malformed_product_id_is_404_never_500(client: httpx.Client, bad_id: str) -> None:
    assert_error(client.get(f"/products/{bad_id}"), 404, "not_found")


# --- POST /products --------------------------------------------------------------------


def test_the_admin_creates_a_product(client: httpx.Client, admin_headers: dict[str, str]) -> None:
    body = product_body(
        name="Walnut Desk",
        category=unique_category(),
        price=129_900,
        stock=7,
        tags=["wood", "office"],
        rating=4.5,
        review_count=12,
        description="Solid walnut.",
    )

    response = client.post("/products", json=body, headers=admin_headers)

    assert response.status_code == 201
    created = response.json()
    assert set(created) == PRODUCT_FIELDS
    for field in ("name", "description", "category", "price", "tags", "inventory", "reviews"):
        assert created[field] == body[field]
    assert created["created_at"] == created["updated_at"]
    assert read_product(client, created["id"]) == created


def test_a_minimal_product_gets_defaults(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    response = client.post(
        "/products",
        json={"name": "Pebble", "category": unique_category(), "price": money(1)},
        headers=admin_headers,
    )

    assert response.status_code == 201
    created = response.json()
    assert created["description"] == ""
    assert created["tags"] == []
    assert created["inventory"] == {"quantity": 0}
    assert created["reviews"] == {"rating": 0.0, "count": 0}


def _valid() -> dict[str, Any]:
    return {"name": "Valid Thing", "category": "valid", "price": money(1_000)}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({**_valid(), "price": {"amount": 12.5, "currency": "EUR"}}, id="float"),
        pytest.param({**_valid(), "price": {"amount": "100", "currency": "EUR"}}, id="string"),
        pytest.param({**_valid(), "price": {"amount": -1, "currency": "EUR"}}, id="negative"),
        pytest.param({**_valid(), "price": {"amount": 10**12 + 1, "currency": "EUR"}}, id="huge"),
        pytest.param({**_valid(), "price": 1_000}, id="bare-number"),
        pytest.param({**_valid(), "price": {"amount": 100}}, id="no-currency"),
        pytest.param({**_valid(), "price": money(100, "USD")}, id="other-currency"),
        pytest.param({**_valid(), "price": money(100, "eur")}, id="lowercase-currency"),
        pytest.param({**_valid(), "price": {**money(100), "$gt": 0}}, id="dollar-in-price"),
        pytest.param({**_valid(), "$set": {"price": 0}}, id="dollar-key"),
        pytest.param({**_valid(), "colour": "red"}, id="unknown-field"),
        pytest.param({**_valid(), "search_tokens": ["x"]}, id="internal-field"),
        pytest.param({**_valid(), "name": "x" * 201}, id="name-too-long"),
        pytest.param({**_valid(), "name": "   "}, id="blank-name"),
        pytest.param({"category": "valid", "price": money(1)}, id="no-name"),
        pytest.param({**_valid(), "category": "$where"}, id="category-operator"),
        pytest.param({**_valid(), "tags": ["ok"] * 21}, id="too-many-tags"),
        pytest.param({**_valid(), "inventory": {"quantity": -1}}, id="negative-stock"),
        pytest.param({**_valid(), "reviews": {"rating": 5.5, "count": 1}}, id="rating-above-5"),
        pytest.param([_valid()], id="a-list"),
    ],
)
def test_invalid_products_are_422(
    client: httpx.Client, admin_headers: dict[str, str], body: Any
) -> None:
    response = client.post("/products", json=body, headers=admin_headers)

    assert_error(response, 422, "validation_error")


def test_a_name_of_200_characters_is_accepted(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    response = client.post("/products", json={**_valid(), "name": "n" * 200}, headers=admin_headers)

    assert response.status_code == 201


# --- PATCH /products/{id} --------------------------------------------------------------


def test_a_patch_changes_only_what_it_sends(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    old_word, new_word = unique("old"), unique("new")
    product = create_product(client, admin_headers, name=f"Lamp {old_word}", stock=4, price=900)

    response = client.patch(
        f"/products/{product['id']}",
        json={"name": f"Lamp {new_word}", "price": money(1_100)},
        headers=admin_headers,
    )

    assert response.status_code == 200
    patched = response.json()
    assert patched["name"] == f"Lamp {new_word}"
    assert patched["price"] == money(1_100)
    for field in ("description", "category", "tags", "inventory", "reviews", "created_at"):
        assert patched[field] == product[field]
    assert parse_time(patched["updated_at"]) >= parse_time(product["updated_at"])
    assert read_product(client, product["id"]) == patched
    # The search follows the new name.
    assert found_ids(client, q=new_word) == [product["id"]]
    assert found_ids(client, q=old_word) == []


def test_an_empty_patch_is_a_successful_no_op(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    product = create_product(client, admin_headers)

    response = client.patch(f"/products/{product['id']}", json={}, headers=admin_headers)

    assert response.status_code == 200
    assert response.json() == product


def test_a_patch_with_the_same_values_is_200(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    product = create_product(client, admin_headers)

    response = client.patch(
        f"/products/{product['id']}", json={"name": product["name"]}, headers=admin_headers
    )

    assert response.status_code == 200
    assert response.json()["name"] == product["name"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"name": None}, id="null-name"),
        pytest.param({"price": None}, id="null-price"),
        pytest.param({"price": {"amount": 1.5, "currency": "EUR"}}, id="float-price"),
        pytest.param({"price": money(100, "GBP")}, id="other-currency"),
        pytest.param({"inventory": {"quantity": 1_000}}, id="stock-not-patchable"),
        pytest.param({"$set": {"name": "x"}}, id="dollar-key"),
        pytest.param({"name": "x" * 201}, id="name-too-long"),
    ],
)
def test_an_invalid_patch_is_422_and_changes_nothing(
    client: httpx.Client, admin_headers: dict[str, str], body: dict[str, Any]
) -> None:
    product = create_product(client, admin_headers)

    response = client.patch(f"/products/{product['id']}", json=body, headers=admin_headers)

    assert_error(response, 422, "validation_error")
    assert read_product(client, product["id"]) == product


@pytest.mark.parametrize("product_id", [UNKNOWN_ID, *MALFORMED_IDS[:3]])
def test_patching_an_unknown_product_is_404(
    client: httpx.Client, admin_headers: dict[str, str], product_id: str
) -> None:
    response = client.patch(f"/products/{product_id}", json={"name": "x"}, headers=admin_headers)

    assert_error(response, 404, "not_found")


# --- POST /products/{id}/inventory -----------------------------------------------------


def change(
    client: httpx.Client, headers: Mapping[str, str], product_id: str, body: Any
) -> httpx.Response:
    return client.post(f"/products/{product_id}/inventory", json=body, headers=dict(headers))


def test_stock_is_added_and_taken(client: httpx.Client, admin_headers: dict[str, str]) -> None:
    product = create_product(client, admin_headers, stock=2)

    added = change(client, admin_headers, product["id"], {"change": 5})
    taken = change(client, admin_headers, product["id"], {"change": -4})
    emptied = change(client, admin_headers, product["id"], {"change": -3})

    assert added.status_code == taken.status_code == emptied.status_code == 200
    assert added.json()["inventory"] == {"quantity": 7}
    assert taken.json()["inventory"] == {"quantity": 3}
    assert emptied.json()["inventory"] == {"quantity": 0}
    assert stock_of(client, product["id"]) == 0


@pytest.mark.parametrize(("stock", "take"), [(3, -4), (0, -1)])
def test_taking_more_than_the_stock_is_409_and_changes_nothing(
    client: httpx.Client, admin_headers: dict[str, str], stock: int, take: int
) -> None:
    product = create_product(client, admin_headers, stock=stock)

    response = change(client, admin_headers, product["id"], {"change": take})

    assert_error(response, 409, "out_of_stock")
    assert stock_of(client, product["id"]) == stock


def test_stock_fills_up_to_its_limit_and_no_further(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    product = create_product(client, admin_headers, stock=MAX_STOCK - 10)

    full = change(client, admin_headers, product["id"], {"change": 10})
    over = change(client, admin_headers, product["id"], {"change": 1})

    assert full.status_code == 200
    assert full.json()["inventory"] == {"quantity": MAX_STOCK}
    assert_error(over, 409, "stock_limit_exceeded")
    # The product, and the catalog pages that list it, stay readable.
    assert stock_of(client, product["id"]) == MAX_STOCK
    assert found_ids(client, category=product["category"]) == [product["id"]]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"change": 0}, id="zero"),
        pytest.param({"change": 1.5}, id="float"),
        pytest.param({"change": "3"}, id="string"),
        pytest.param({"change": None}, id="null"),
        pytest.param({}, id="missing"),
        pytest.param({"change": 1, "quantity": 5}, id="unknown-field"),
        pytest.param({"change": 10_000_001}, id="too-large"),
    ],
)
def test_an_invalid_inventory_change_is_422(
    client: httpx.Client, admin_headers: dict[str, str], body: Any
) -> None:
    product = create_product(client, admin_headers, stock=5)

    response = change(client, admin_headers, product["id"], body)

    assert_error(response, 422, "validation_error")
    assert stock_of(client, product["id"]) == 5


@pytest.mark.parametrize("product_id", [UNKNOWN_ID, *MALFORMED_IDS[:3]])
def test_the_inventory_of_an_unknown_product_is_404(
    client: httpx.Client, admin_headers: dict[str, str], product_id: str
) -> None:
    for delta in (1, -1):
        response = change(client, admin_headers, product_id, {"change": delta})
        assert_error(response, 404, "not_found")


# --- POST /products/bulk-prices --------------------------------------------------------


def test_bulk_prices_report_bad_items_and_apply_the_rest(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    first = create_product(client, admin_headers, price=1_000)
    second = create_product(client, admin_headers, price=2_000)
    updates = [
        {"product_id": first["id"], "new_price": money(1_250)},
        {"product_id": "not-an-id", "new_price": money(5)},
        {"product_id": UNKNOWN_ID, "new_price": money(5)},
        {"product_id": second["id"], "new_price": money(1_999)},
        {"product_id": second["id"][:-1] + "Z", "new_price": money(5)},
    ]

    response = client.post("/products/bulk-prices", json=updates, headers=admin_headers)

    assert response.status_code == 200
    result = response.json()
    assert set(result) == {"matched", "modified", "errors"}
    assert (result["matched"], result["modified"]) == (2, 2)
    errors = result["errors"]
    assert [error["index"] for error in errors] == [1, 2, 4]
    assert [error["product_id"] for error in errors] == [
        "not-an-id",
        UNKNOWN_ID,
        second["id"][:-1] + "Z",
    ]
    for error in errors:
        assert set(error) == {"index", "product_id", "error"}
        assert error["error"]
    assert read_product(client, first["id"])["price"] == money(1_250)
    assert read_product(client, second["id"])["price"] == money(1_999)


def test_bulk_prices_with_only_bad_items_change_nothing(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    product = create_product(client, admin_headers, price=700)

    response = client.post(
        "/products/bulk-prices",
        json=[
            {"product_id": UNKNOWN_ID, "new_price": money(1)},
            {"product_id": "not-an-id", "new_price": money(1)},
        ],
        headers=admin_headers,
    )

    assert response.status_code == 200
    result = response.json()
    assert (result["matched"], result["modified"]) == (0, 0)
    assert [error["index"] for error in result["errors"]] == [0, 1]
    assert read_product(client, product["id"])["price"] == money(700)


def test_a_price_in_another_currency_refuses_the_whole_request(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    """The contract names the shop's one currency, so another one is a malformed request."""
    product = create_product(client, admin_headers, price=700)

    response = client.post(
        "/products/bulk-prices",
        json=[
            {"product_id": product["id"], "new_price": money(800)},
            {"product_id": product["id"], "new_price": money(1, "USD")},
        ],
        headers=admin_headers,
    )

    assert_error(response, 422, "validation_error")
    assert "1" in response.json()["detail"]
    assert read_product(client, product["id"])["price"] == money(700)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param([], id="empty"),
        pytest.param({"product_id": UNKNOWN_ID, "new_price": money(1)}, id="not-a-list"),
        pytest.param([{"product_id": UNKNOWN_ID, "new_price": 100}], id="bare-number"),
        pytest.param(
            [{"product_id": UNKNOWN_ID, "new_price": {"amount": 1.5, "currency": "EUR"}}],
            id="float",
        ),
        pytest.param([{"product_id": UNKNOWN_ID}], id="no-price"),
        pytest.param(
            [{"product_id": UNKNOWN_ID, "new_price": money(1), "$set": {}}], id="dollar-key"
        ),
        pytest.param([{"product_id": UNKNOWN_ID, "new_price": money(1)}] * 1001, id="too-many"),
    ],
)
def test_invalid_bulk_price_requests_are_422(
    client: httpx.Client, admin_headers: dict[str, str], body: Any
) -> None:
    response = client.post("/products/bulk-prices", json=body, headers=admin_headers)

    assert_error(response, 422, "validation_error")


# --- Who may write ---------------------------------------------------------------------

WRITES = [
    pytest.param("POST", "/products", _valid(), id="create"),
    pytest.param("PATCH", "/products/{id}", {"name": "Hacked"}, id="patch"),
    pytest.param("POST", "/products/{id}/inventory", {"change": 100}, id="inventory"),
    pytest.param(
        "POST",
        "/products/bulk-prices",
        [{"product_id": "{id}", "new_price": money(1)}],
        id="bulk-prices",
    ),
]


@pytest.fixture(scope="module")
def customer(api: Api) -> Account:
    """An ordinary signed-in user, shared by the refusals below."""
    return api.new_account("Catalog Customer")


@pytest.fixture(scope="module")
def target(client: httpx.Client, admin_headers: dict[str, str]) -> dict[str, Any]:
    """A product the refused writes aim at."""
    return create_product(client, admin_headers, price=4_200, stock=2)


def _aimed(body: Any, product_id: str) -> Any:
    if isinstance(body, list):
        return [{**item, "product_id": product_id} for item in body]
    return body


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_catalog_writes_refuse_an_ordinary_user_with_403(
    client: httpx.Client,
    customer: Account,
    target: dict[str, Any],
    method: str,
    path: str,
    body: Any,
) -> None:
    url = path.format(id=target["id"])

    response = client.request(
        method, url, json=_aimed(body, target["id"]), headers=customer.headers
    )

    assert_error(response, 403, "forbidden")
    assert read_product(client, target["id"]) == target


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_catalog_writes_refuse_no_token_with_401(
    client: httpx.Client, target: dict[str, Any], method: str, path: str, body: Any
) -> None:
    url = path.format(id=target["id"])

    response = client.request(method, url, json=_aimed(body, target["id"]))

    assert_error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert read_product(client, target["id"]) == target
