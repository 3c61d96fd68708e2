"""Which webhook events a committed change makes, with ids every worker derives alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId, Timestamp
from pydantic import BaseModel, ValidationError

from mongoshop.models.orders import OrderInDB, OrderPublic
from mongoshop.models.products import ProductInDB
from mongoshop.models.users import UserInDB
from mongoshop.models.wallet import LedgerEntryInDB
from mongoshop.models.webhooks import EventType
from mongoshop.streams.changes import Change, ModelT
from mongoshop.webhooks.events import (
    from_ledger_change,
    from_order_change,
    from_product_change,
    from_user_change,
)

AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ORDER_ID = ObjectId()


def change(operation: str, document: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    key = (document or {}).get("_id", ORDER_ID)
    return {
        "operationType": operation,
        "fullDocument": document,
        "documentKey": {"_id": key},
        "clusterTime": Timestamp(1_800_000_000, 7),
        "wallTime": AT,
        **extra,
    }


def typed(model: type[ModelT], event: dict[str, Any]) -> Change[ModelT]:
    return Change.of(event, model)


def orders(event: dict[str, Any]) -> Change[OrderInDB]:
    return typed(OrderInDB, event)


def order(**fields: Any) -> dict[str, Any]:
    return {
        "_id": ORDER_ID,
        "user_id": ObjectId(),
        "account_id": ObjectId(),
        "status": "completed",
        "total": {"amount": 2_500, "currency": "EUR"},
        "items": [{"product_id": ObjectId(), "name": "Teapot", "quantity": 2, "unit_price": 1_250}],
        "created_at": AT,
        **fields,
    }


def test_an_order_insert_is_order_placed_with_the_order_as_the_api_shows_it() -> None:
    placed_order = order()
    [placed] = from_order_change(orders(change("insert", placed_order)))
    assert placed.event.type is EventType.ORDER_PLACED
    assert placed.object_key == f"order:{ORDER_ID}"
    assert placed.event.created_at == AT
    data = placed.event.data
    assert data == OrderPublic.of(OrderInDB.model_validate(placed_order)).model_dump(mode="json")
    assert data["id"] == str(ORDER_ID)
    assert data["total"] == {"amount": 2_500, "currency": "EUR"}
    assert data["items"][0]["unit_price"] == {"amount": 1_250, "currency": "EUR"}
    assert data["item_count"] == 2


def test_the_same_change_gives_the_same_id_and_each_event_its_own() -> None:
    first = from_order_change(orders(change("insert", order())))[0].event.id
    again = from_order_change(orders(change("insert", order(), clusterTime=Timestamp(1, 1))))
    assert first == again[0].event.id, "an order is placed once: its id names the event"
    cancelled = from_order_change(
        orders(
            change(
                "update",
                order(status="cancelled"),
                updateDescription={"updatedFields": {"status": "cancelled", "cancelled_at": AT}},
            )
        )
    )[0]
    assert cancelled.event.type is EventType.ORDER_CANCELLED
    assert cancelled.event.id != first
    assert cancelled.event.data["status"] == "cancelled"


def test_other_order_updates_make_no_event() -> None:
    other = change("update", order(), updateDescription={"updatedFields": {"item_count": 2}})
    assert from_order_change(orders(other)) == []


def test_an_order_gone_before_its_event_is_read_tells_nothing() -> None:
    gone = change("update", None, updateDescription={"updatedFields": {"status": "cancelled"}})
    assert from_order_change(orders(gone)) == []


def test_a_document_that_does_not_load_fails_the_change_not_quietly() -> None:
    """The stream consumer retries, then skips and logs, an event no handler can take."""
    with pytest.raises(ValidationError):
        orders(change("insert", {"_id": ORDER_ID, "status": "completed"}))


def test_a_verified_user_is_registered_once_and_an_unverified_one_not_yet() -> None:
    user = {
        "_id": ObjectId(),
        "email": "a@example.com",
        "name": "A",
        "email_verified": True,
        "password_hash": "$argon2id$secret",
        "created_at": AT,
        "updated_at": AT,
    }

    def users(event: dict[str, Any]) -> Change[UserInDB]:
        return typed(UserInDB, event)

    [registered] = from_user_change(users(change("insert", user)))
    assert registered.event.type is EventType.USER_REGISTERED
    assert registered.event.data == {
        "id": str(user["_id"]),
        "email": "a@example.com",
        "name": "A",
        "created_at": "2026-11-27T12:00:00Z",
    }
    assert from_user_change(users(change("insert", {**user, "email_verified": False}))) == []
    verified = change("update", user, updateDescription={"updatedFields": {"email_verified": True}})
    assert from_user_change(users(verified))[0].event.id == registered.event.id
    sign_in = change("update", user, updateDescription={"updatedFields": {"login_count": 3}})
    assert from_user_change(users(sign_in)) == []


def product(**fields: Any) -> dict[str, Any]:
    return {
        "_id": ObjectId("6650a1b2c3d4e5f601234567"),
        "name": "Cup",
        "category": "Kitchen",
        "price": {"amount": 900, "currency": "EUR"},
        "created_at": AT,
        "updated_at": AT,
        **fields,
    }


def product_change(before: int | None, after: int, *, inc: int = 1) -> Change[ProductInDB]:
    cup = product(inventory={"quantity": after})
    extra: dict[str, Any] = {
        "updateDescription": {"updatedFields": {"inventory.quantity": after, "updated_at": AT}},
        "clusterTime": Timestamp(1_800_000_000, inc),
    }
    if before is not None:
        extra["fullDocumentBeforeChange"] = {**cup, "inventory": {"quantity": before}}
    return typed(ProductInDB, change("update", cup, **extra))


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (3, 0, EventType.PRODUCT_OUT_OF_STOCK),
        (0, 5, EventType.PRODUCT_RESTOCKED),
        (-2, 1, EventType.PRODUCT_RESTOCKED),
        (5, 2, None),
        (0, 0, None),
        (None, 0, EventType.PRODUCT_OUT_OF_STOCK),  # no pre-image: 0 after a change
        (None, 4, None),  # no pre-image: a restock cannot be told from an increase
    ],
)
def test_stock_events_follow_the_stock_before_and_after(
    before: int | None, after: int, expected: EventType | None
) -> None:
    found = from_product_change(product_change(before, after))
    assert [o.event.type for o in found] == ([] if expected is None else [expected])
    if found:
        assert found[0].event.data == {
            "id": "6650a1b2c3d4e5f601234567",
            "name": "Cup",
            "stock": max(after, 0),
        }


def test_each_stock_change_is_its_own_event() -> None:
    first = from_product_change(product_change(3, 0, inc=1))[0].event.id
    second = from_product_change(product_change(3, 0, inc=2))[0].event.id
    assert first != second


def test_a_product_update_that_is_not_about_stock_makes_no_event() -> None:
    renamed = change(
        "update",
        product(name="Mug", inventory={"quantity": 0}),
        updateDescription={"updatedFields": {"name": "Mug"}},
        fullDocumentBeforeChange=product(inventory={"quantity": 0}),
    )
    assert from_product_change(typed(ProductInDB, renamed)) == []


def test_only_credits_are_wallet_credited() -> None:
    entry = {
        "_id": ObjectId(),
        "account_id": ObjectId(),
        "kind": "credit",
        "amount": 500,
        "currency": "EUR",
        "reason": "top-up",
        "created_at": AT,
    }
    owner = ObjectId()

    def entries(event: dict[str, Any]) -> Change[LedgerEntryInDB]:
        return typed(LedgerEntryInDB, event)

    [credited] = from_ledger_change(entries(change("insert", entry)), owner)
    assert credited.event.data == {
        "id": str(entry["_id"]),
        "account_id": str(entry["account_id"]),
        "user_id": str(owner),
        "kind": "credit",
        "amount": {"amount": 500, "currency": "EUR"},
        "direction": "credit",
        "reference_id": None,
        "reason": "top-up",
        "created_at": "2026-11-27T12:00:00Z",
    }
    assert credited.object_key == f"account:{entry['account_id']}"
    debit = entries(change("insert", {**entry, "amount": -500}))
    assert from_ledger_change(debit, owner) == []


def test_the_sequence_follows_the_cluster_time() -> None:
    def sequence(time: int, inc: int) -> int:
        return Change[BaseModel](
            operation="insert", key=1, document=None, at=AT, cluster_time=Timestamp(time, inc)
        ).sequence

    assert sequence(100, 9) < sequence(101, 1)
    assert sequence(100, 10) == sequence(100, 9) + 1
