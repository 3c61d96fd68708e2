"""Wallets over HTTP: one's account and ledger, admin credits, and transfers."""

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
    account_of,
    assert_error,
    balance_of,
    credit,
    fund,
    is_object_id,
    ledger_of,
    ledger_total,
    money,
    new_buyer,
    transfer,
)

MAX_AMOUNT = 10**12

ACCOUNT_FIELDS = {"id", "user_id", "balance", "created_at", "updated_at"}
ENTRY_FIELDS = {"id", "kind", "amount", "direction", "reference_id", "reason", "created_at"}
TRANSFER_FIELDS = {"id", "from_account_id", "to_account_id", "amount", "created_at"}


@pytest.fixture(scope="module")
def payer(api: Api, client: httpx.Client, admin_headers: dict[str, str]) -> Account:
    """A funded user whose transfers are refused (their balance is only read relatively)."""
    return new_buyer(api, client, admin_headers, funds=5_000)


@pytest.fixture(scope="module")
def payee(api: Api) -> Account:
    return api.new_account("Payee Example")


@pytest.fixture(scope="module")
def payee_account_id(client: httpx.Client, payee: Account) -> str:
    account_id: str = account_of(client, payee)["id"]
    return account_id


# --- GET /accounts/me ------------------------------------------------------------------


def test_a_new_user_has_an_empty_account_of_their_own(client: httpx.Client, user: Account) -> None:
    response = client.get("/accounts/me", headers=user.headers)

    assert response.status_code == 200
    account = response.json()
    assert set(account) == ACCOUNT_FIELDS
    assert is_object_id(account["id"])
    assert account["user_id"] == user.id
    assert account["balance"] == {"amount": 0, "currency": CURRENCY}
    # The same account on every read.
    assert account_of(client, user)["id"] == account["id"]
    assert ledger_of(client, user)["total"] == 0


def test_two_users_have_two_accounts(
    client: httpx.Client, user: Account, other_user: Account
) -> None:
    assert account_of(client, user)["id"] != account_of(client, other_user)["id"]


@pytest.mark.parametrize("path", ["/accounts/me", "/accounts/me/ledger"])
def test_ones_account_needs_a_token(client: httpx.Client, path: str) -> None:
    response = client.get(path)

    assert_error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


# --- POST /accounts/{id}/credit --------------------------------------------------------


def test_the_admin_credits_an_account_with_a_reason(
    client: httpx.Client, admin_headers: dict[str, str], user: Account
) -> None:
    account_id = account_of(client, user)["id"]

    response = credit(client, admin_headers, account_id, 12_345, reason="welcome bonus")

    assert response.status_code == 200
    account = response.json()
    assert set(account) == ACCOUNT_FIELDS
    assert account["id"] == account_id
    assert account["balance"] == money(12_345)
    assert balance_of(client, user) == 12_345
    ledger = ledger_of(client, user)
    assert ledger["total"] == 1
    entry = ledger["items"][0]
    assert set(entry) == ENTRY_FIELDS
    assert entry["kind"] == "credit"
    assert entry["direction"] == "credit"
    assert entry["amount"] == money(12_345)
    assert entry["reason"] == "welcome bonus"
    assert entry["reference_id"] is None


def test_credits_add_up(client: httpx.Client, admin_headers: dict[str, str], user: Account) -> None:
    account_id = account_of(client, user)["id"]

    for amount in (100, 250, 1):
        assert credit(client, admin_headers, account_id, amount).status_code == 200

    assert balance_of(client, user) == 351


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"amount": 0, "currency": "EUR", "reason": "r"}, id="zero"),
        pytest.param({"amount": -100, "currency": "EUR", "reason": "r"}, id="negative"),
        pytest.param({"amount": 10.5, "currency": "EUR", "reason": "r"}, id="float"),
        pytest.param({"amount": "100", "currency": "EUR", "reason": "r"}, id="string"),
        pytest.param({"amount": 10**12 + 1, "currency": "EUR", "reason": "r"}, id="huge"),
        pytest.param({"amount": 100, "currency": "USD", "reason": "r"}, id="other-currency"),
        pytest.param({"amount": 100, "currency": "eur", "reason": "r"}, id="lowercase-currency"),
        pytest.param({"amount": 100, "reason": "r"}, id="no-currency"),
        pytest.param({"amount": 100, "currency": "EUR"}, id="no-reason"),
        pytest.param({"amount": 100, "currency": "EUR", "reason": ""}, id="empty-reason"),
        pytest.param({"amount": 100, "currency": "EUR", "reason": "r" * 201}, id="long-reason"),
        pytest.param(
            {"amount": 100, "currency": "EUR", "reason": "r", "$inc": {"balance": 1}},
            id="dollar-key",
        ),
    ],
)
def test_an_invalid_credit_is_422_and_moves_nothing(
    client: httpx.Client,
    admin_headers: dict[str, str],
    payee: Account,
    payee_account_id: str,
    body: dict[str, Any],
) -> None:
    before = balance_of(client, payee)

    response = client.post(f"/accounts/{payee_account_id}/credit", json=body, headers=admin_headers)

    assert_error(response, 422, "validation_error")
    assert balance_of(client, payee) == before


@pytest.mark.parametrize("account_id", [UNKNOWN_ID, *MALFORMED_IDS])
def test_crediting_an_unknown_account_is_404(
    client: httpx.Client, admin_headers: dict[str, str], account_id: str
) -> None:
    assert_error(credit(client, admin_headers, account_id, 100), 404, "not_found")


def test_a_user_id_is_not_an_account_id(
    client: httpx.Client, admin_headers: dict[str, str], payee: Account
) -> None:
    assert_error(credit(client, admin_headers, payee.id, 100), 404, "not_found")


def test_only_the_admin_credits(
    client: httpx.Client, payer: Account, payee: Account, payee_account_id: str
) -> None:
    before = balance_of(client, payee)
    own_account = account_of(client, payer)["id"]

    for account_id in (payee_account_id, own_account):
        assert_error(credit(client, payer.headers, account_id, 1_000), 403, "forbidden")
    anonymous = credit(client, {}, payee_account_id, 1_000)

    assert_error(anonymous, 401)
    assert balance_of(client, payee) == before


def test_a_balance_never_passes_the_largest_amount(
    client: httpx.Client, admin_headers: dict[str, str], user: Account, other_user: Account
) -> None:
    account_id = account_of(client, user)["id"]
    assert credit(client, admin_headers, account_id, MAX_AMOUNT).status_code == 200
    entries = ledger_total(client, user)

    over = credit(client, admin_headers, account_id, 1)

    assert_error(over, 409, "balance_limit_exceeded")
    # The account stays readable, and a transfer into it is refused and moves nothing.
    assert balance_of(client, user) == MAX_AMOUNT
    assert ledger_total(client, user) == entries
    fund(client, admin_headers, other_user, 5)
    assert_error(transfer(client, other_user, account_id, 5), 409, "balance_limit_exceeded")
    assert balance_of(client, other_user) == 5
    assert balance_of(client, user) == MAX_AMOUNT


# --- GET /accounts/me/ledger -----------------------------------------------------------


def test_the_ledger_is_newest_first_in_pages(
    client: httpx.Client, admin_headers: dict[str, str], user: Account
) -> None:
    account_id = account_of(client, user)["id"]
    reasons = [f"deposit {n}" for n in range(5)]
    for n, reason in enumerate(reasons, start=1):
        assert credit(client, admin_headers, account_id, n * 100, reason=reason).status_code == 200

    pages = [ledger_of(client, user, page=page, page_size=2) for page in (1, 2, 3)]

    for number, page in enumerate(pages, start=1):
        assert set(page) == PAGE_KEYS
        assert (page["total"], page["page"], page["page_size"], page["total_pages"]) == (
            5,
            number,
            2,
            3,
        )
    entries = [entry for page in pages for entry in page["items"]]
    assert [entry["reason"] for entry in entries] == list(reversed(reasons))
    assert [entry["amount"]["amount"] for entry in entries] == [500, 400, 300, 200, 100]
    assert len({entry["id"] for entry in entries}) == 5
    beyond = ledger_of(client, user, page=4, page_size=2)
    assert beyond["items"] == []
    assert beyond["total"] == 5


def test_the_ledger_pages_after_the_last_entry_seen(
    client: httpx.Client, admin_headers: dict[str, str], user: Account, payer: Account
) -> None:
    account_id = account_of(client, user)["id"]
    for n in range(5):
        assert credit(client, admin_headers, account_id, 10 + n, reason=f"k{n}").status_code == 200
    everything = [entry["id"] for entry in ledger_of(client, user, page_size=100)["items"]]

    seen: list[str] = []
    page = ledger_of(client, user, page_size=2)
    while True:
        seen += [entry["id"] for entry in page["items"]]
        if page["next_after"] is None:
            break
        page = ledger_of(client, user, page_size=2, after=page["next_after"])

    assert seen == everything
    assert page["total"] == len(everything)
    # Another account's entry is not a place in this ledger.
    theirs = ledger_of(client, payer, page_size=1)["items"][0]["id"]
    response = client.get("/accounts/me/ledger", params={"after": theirs}, headers=user.headers)
    assert_error(response, 404)


@pytest.mark.parametrize(
    "params",
    [{"page": 0}, {"page_size": 101}, {"page_size": 0}, {"page": "one"}],
    ids=["page-0", "page-size-101", "page-size-0", "page-word"],
)
def test_bad_ledger_pages_are_422(
    client: httpx.Client, payer: Account, params: dict[str, Any]
) -> None:
    response = client.get("/accounts/me/ledger", params=params, headers=payer.headers)

    assert_error(response, 422, "validation_error")


# --- POST /transfers -------------------------------------------------------------------


def test_a_transfer_moves_money_and_writes_both_legs(
    client: httpx.Client, admin_headers: dict[str, str], user: Account, other_user: Account
) -> None:
    source = fund(client, admin_headers, user, 10_000)
    target = account_of(client, other_user)["id"]

    response = transfer(client, user, target, 2_500)

    assert response.status_code == 201
    assert response.headers["idempotent-replay"] == "false"
    done = response.json()
    assert set(done) == TRANSFER_FIELDS
    assert is_object_id(done["id"])
    assert (done["from_account_id"], done["to_account_id"]) == (source, target)
    assert done["amount"] == money(2_500)
    assert balance_of(client, user) == 7_500
    assert balance_of(client, other_user) == 2_500
    out = ledger_of(client, user)["items"][0]
    assert (out["kind"], out["direction"], out["amount"]) == (
        "transfer_out",
        "debit",
        money(2_500),
    )
    assert out["reference_id"] == done["id"]
    into = ledger_of(client, other_user)["items"][0]
    assert (into["kind"], into["direction"], into["amount"]) == (
        "transfer_in",
        "credit",
        money(2_500),
    )
    assert into["reference_id"] == done["id"]


def test_the_whole_balance_can_be_sent(
    client: httpx.Client, admin_headers: dict[str, str], user: Account, other_user: Account
) -> None:
    fund(client, admin_headers, user, 999)
    target = account_of(client, other_user)["id"]

    assert transfer(client, user, target, 999).status_code == 201
    assert balance_of(client, user) == 0
    assert_error(transfer(client, user, target, 1), 409, "insufficient_funds")


def test_insufficient_funds_is_409_and_nothing_moves(
    client: httpx.Client, payer: Account, payee: Account, payee_account_id: str
) -> None:
    before = (balance_of(client, payer), balance_of(client, payee))
    entries = (ledger_total(client, payer), ledger_total(client, payee))

    response = transfer(client, payer, payee_account_id, before[0] + 1)

    assert_error(response, 409, "insufficient_funds")
    assert (balance_of(client, payer), balance_of(client, payee)) == before
    assert (ledger_total(client, payer), ledger_total(client, payee)) == entries


def test_a_transfer_to_oneself_is_422(client: httpx.Client, payer: Account) -> None:
    before = balance_of(client, payer)
    own = account_of(client, payer)["id"]

    assert_error(transfer(client, payer, own, 100), 422, "validation_error")
    assert balance_of(client, payer) == before


@pytest.mark.parametrize("target", [UNKNOWN_ID, *MALFORMED_IDS])
def test_a_transfer_to_an_unknown_account_is_404_and_nothing_moves(
    client: httpx.Client, payer: Account, target: str
) -> None:
    before = balance_of(client, payer)
    entries = ledger_total(client, payer)

    assert_error(transfer(client, payer, target, 100), 404, "not_found")
    # The debit, made before the credit found no account, was rolled back.
    assert balance_of(client, payer) == before
    assert ledger_total(client, payer) == entries


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        pytest.param(0, "EUR", id="zero"),
        pytest.param(-100, "EUR", id="negative"),
        pytest.param(10.5, "EUR", id="float"),
        pytest.param("100", "EUR", id="string"),
        pytest.param(None, "EUR", id="null"),
        pytest.param(100, "USD", id="other-currency"),
        pytest.param(100, "", id="empty-currency"),
    ],
)
def test_an_invalid_transfer_amount_is_422(
    client: httpx.Client,
    payer: Account,
    payee: Account,
    payee_account_id: str,
    amount: Any,
    currency: str,
) -> None:
    before = (balance_of(client, payer), balance_of(client, payee))

    response = transfer(client, payer, payee_account_id, amount, currency=currency)

    assert_error(response, 422, "validation_error")
    assert (balance_of(client, payer), balance_of(client, payee)) == before


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"to_account_id": UNKNOWN_ID, "amount": 1}, id="no-currency"),
        pytest.param({"amount": 1, "currency": "EUR"}, id="no-target"),
        pytest.param(
            {"to_account_id": {"$ne": None}, "amount": 1, "currency": "EUR"}, id="operator-target"
        ),
        pytest.param(
            {"to_account_id": UNKNOWN_ID, "amount": 1, "currency": "EUR", "from": UNKNOWN_ID},
            id="unknown-field",
        ),
        pytest.param(
            {"to_account_id": UNKNOWN_ID, "amount": {"amount": 1, "currency": "EUR"}},
            id="money-object",
        ),
    ],
)
def test_a_malformed_transfer_body_is_422(
    client: httpx.Client, payer: Account, body: dict[str, Any]
) -> None:
    response = client.post("/transfers", json=body, headers=payer.headers)

    assert_error(response, 422, "validation_error")


def test_a_transfer_needs_a_token(client: httpx.Client, payee_account_id: str) -> None:
    response = client.post(
        "/transfers", json={"to_account_id": payee_account_id, "amount": 1, "currency": "EUR"}
    )

    assert_error(response, 401)


# --- Idempotency-Key -------------------------------------------------------------------


def test_a_retried_transfer_with_the_same_key_moves_money_once(
    client: httpx.Client, admin_headers: dict[str, str], user: Account, other_user: Account
) -> None:
    fund(client, admin_headers, user, 5_000)
    target = account_of(client, other_user)["id"]
    key = str(uuid.uuid4())

    first = transfer(client, user, target, 1_200, key=key)
    second = transfer(client, user, target, 1_200, key=key)

    assert first.status_code == second.status_code == 201
    assert first.headers["idempotent-replay"] == "false"
    assert second.headers["idempotent-replay"] == "true"
    assert second.json() == first.json()
    assert balance_of(client, user) == 3_800
    assert balance_of(client, other_user) == 1_200
    assert [entry["kind"] for entry in ledger_of(client, user)["items"]] == [
        "transfer_out",
        "credit",
    ]


def test_the_same_key_for_another_transfer_is_409(
    client: httpx.Client, admin_headers: dict[str, str], user: Account, other_user: Account
) -> None:
    fund(client, admin_headers, user, 5_000)
    target = account_of(client, other_user)["id"]
    key = f"key-{uuid.uuid4().hex}"
    assert transfer(client, user, target, 1_000, key=key).status_code == 201

    for amount in (1_001, 999):
        assert_error(transfer(client, user, target, amount, key=key), 409, "idempotency_key_reused")

    assert balance_of(client, user) == 4_000
    assert balance_of(client, other_user) == 1_000


def test_a_key_is_scoped_to_its_user(
    client: httpx.Client, admin_headers: dict[str, str], user: Account, other_user: Account
) -> None:
    fund(client, admin_headers, user, 1_000)
    fund(client, admin_headers, other_user, 1_000)
    mine, theirs = account_of(client, user)["id"], account_of(client, other_user)["id"]
    key = f"shared-{uuid.uuid4().hex}"

    sent = transfer(client, user, theirs, 300, key=key)
    returned = transfer(client, other_user, mine, 300, key=key)

    assert sent.status_code == returned.status_code == 201
    assert returned.headers["idempotent-replay"] == "false"
    assert sent.json()["id"] != returned.json()["id"]
    assert balance_of(client, user) == balance_of(client, other_user) == 1_000


def test_a_refused_transfer_does_not_use_up_its_key(
    client: httpx.Client, admin_headers: dict[str, str], user: Account, other_user: Account
) -> None:
    target = account_of(client, other_user)["id"]
    key = f"retry-{uuid.uuid4().hex}"
    assert_error(transfer(client, user, target, 500, key=key), 409, "insufficient_funds")
    fund(client, admin_headers, user, 500)

    response = transfer(client, user, target, 500, key=key)

    assert response.status_code == 201
    assert response.headers["idempotent-replay"] == "false"
    assert balance_of(client, other_user) == 500


def test_a_key_of_128_printable_characters_is_accepted(
    client: httpx.Client, admin_headers: dict[str, str], user: Account, other_user: Account
) -> None:
    fund(client, admin_headers, user, 100)

    response = transfer(client, user, account_of(client, other_user)["id"], 100, key="k" * 128)

    assert response.status_code == 201


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("has space", id="space"),
        pytest.param("k" * 129, id="129-characters"),
        pytest.param("", id="empty"),
        pytest.param("tab\there", id="tab"),
    ],
)
def test_an_invalid_idempotency_key_is_422_and_nothing_moves(
    client: httpx.Client, payer: Account, payee: Account, payee_account_id: str, key: str
) -> None:
    before = (balance_of(client, payer), balance_of(client, payee))

    response = transfer(client, payer, payee_account_id, 100, key=key)

    assert_error(response, 422, "validation_error")
    assert (balance_of(client, payer), balance_of(client, payee)) == before
