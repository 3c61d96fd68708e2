"""Committed changes, as webhook events: pure functions of change-stream events.

Each function takes one change event (as the worker's streams deliver it) and
returns the webhook events it means, with what the delivery needs to keep the
order of one object's events. No I/O: what it needs from elsewhere (an
account's owner) is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId, Timestamp

from mongoshop.models.webhooks import EventType, WebhookEvent, event_id
from mongoshop.streams.changes import event_time


@dataclass(frozen=True)
class Occurrence:
    """An event, with the object it is about and its place in the database's history."""

    event: WebhookEvent
    object_key: str
    sequence: int


def sequence_of(change: Mapping[str, Any]) -> int:
    """The change's cluster time as one integer (seconds, then the increment): the
    order in which the database committed the changes, the same for every reader."""
    cluster_time = change.get("clusterTime")
    if isinstance(cluster_time, Timestamp):
        return (cluster_time.time << 32) | cluster_time.inc
    at = event_time(change) or datetime.now(UTC)
    return int(at.timestamp() * 1000) << 22


def _money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def _when(change: Mapping[str, Any], fallback: Any) -> datetime:
    at = event_time(change)
    if at is not None:
        return at
    if isinstance(fallback, datetime):
        return fallback if fallback.tzinfo else fallback.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _occurrence(
    kind: EventType,
    object_key: str,
    discriminator: str,
    at: datetime,
    data: dict[str, Any],
    change: Mapping[str, Any],
) -> Occurrence:
    return Occurrence(
        WebhookEvent(
            id=event_id(kind, object_key, discriminator),
            type=kind,
            created_at=at.astimezone(UTC),
            data=data,
        ),
        object_key,
        sequence_of(change),
    )


def order_data(order: Mapping[str, Any]) -> dict[str, Any]:
    currency = order["total"]["currency"]
    data: dict[str, Any] = {
        "order_id": str(order["_id"]),
        "user_id": str(order["user_id"]),
        "status": order.get("status"),
        "total": _money(order["total"]["amount"], currency),
        "items": [
            {
                "product_id": str(item["product_id"]),
                "name": item["name"],
                "quantity": item["quantity"],
                "unit_price": _money(item["unit_price"], currency),
            }
            for item in order.get("items", [])
        ],
        "placed_at": _iso(order.get("created_at")),
    }
    if order.get("cancelled_at") is not None:
        data["cancelled_at"] = _iso(order["cancelled_at"])
    return data


def _iso(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def from_order_change(change: Mapping[str, Any]) -> list[Occurrence]:
    """An insert is `order.placed`; an update that sets the status to cancelled is
    `order.cancelled` (each happens once to an order: the order's id names it)."""
    order = change.get("fullDocument")
    operation = change.get("operationType")
    key = f"order:{change['documentKey']['_id']}"
    if operation == "insert" and order:
        return [
            _occurrence(
                EventType.ORDER_PLACED,
                key,
                "placed",
                _when(change, order.get("created_at")),
                order_data(order),
                change,
            )
        ]
    fields = (change.get("updateDescription") or {}).get("updatedFields") or {}
    if operation == "update" and fields.get("status") == "cancelled":
        data = order_data(order) if order else {"order_id": str(change["documentKey"]["_id"])}
        data["status"] = "cancelled"
        return [
            _occurrence(
                EventType.ORDER_CANCELLED,
                key,
                "cancelled",
                _when(change, fields.get("cancelled_at")),
                data,
                change,
            )
        ]
    return []


def user_data(user: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "user_id": str(user["_id"]),
        "email": user.get("email"),
        "name": user.get("name"),
        "registered_at": _iso(user.get("created_at")),
    }


def from_user_change(change: Mapping[str, Any]) -> list[Occurrence]:
    """`user.registered`: an account created verified, or verified later (as the welcome)."""
    user = change.get("fullDocument")
    if not user or user.get("email_verified", True) is not True:
        return []
    if change.get("operationType") == "update":
        fields = (change.get("updateDescription") or {}).get("updatedFields") or {}
        if fields.get("email_verified") is not True:
            return []
    elif change.get("operationType") != "insert":
        return []
    key = f"user:{user['_id']}"
    return [
        _occurrence(
            EventType.USER_REGISTERED,
            key,
            "registered",
            _when(change, user.get("created_at")),
            user_data(user),
            change,
        )
    ]


def _quantity(document: Mapping[str, Any] | None) -> int | None:
    if not document:
        return None
    inventory = document.get("inventory")
    quantity = inventory.get("quantity") if isinstance(inventory, Mapping) else None
    return quantity if isinstance(quantity, int) else None


def _quantity_after(change: Mapping[str, Any]) -> int | None:
    """The stock this change left: from the change itself where it says, else the
    looked-up document (a later state, only used when the change does not say)."""
    fields = (change.get("updateDescription") or {}).get("updatedFields") or {}
    if isinstance(fields.get("inventory.quantity"), int):
        quantity: int = fields["inventory.quantity"]
        return quantity
    if change.get("operationType") == "update" and "inventory" not in fields:
        return None  # not a stock change
    return _quantity(change.get("fullDocument"))


def from_product_change(change: Mapping[str, Any]) -> list[Occurrence]:
    """`product.out_of_stock` when a change takes the stock from above 0 to 0 or less;
    `product.restocked` when it takes it from 0 or less to above 0.

    The stock before the change is its pre-image (``fullDocumentBeforeChange``,
    which the products collection records for its stream). Without one (pre-images
    off), a stock of 0 after a decrease is still told (it was above 0, or nothing
    would have changed), and a restock cannot be told from a mere increase.
    """
    if change.get("operationType") not in ("update", "replace"):
        return []
    after = _quantity_after(change)
    if after is None:
        return []
    before = _quantity(change.get("fullDocumentBeforeChange"))
    product = change.get("fullDocument") or {}
    product_id = change["documentKey"]["_id"]
    if before is None:
        kind = EventType.PRODUCT_OUT_OF_STOCK if after <= 0 else None
    elif before > 0 >= after:
        kind = EventType.PRODUCT_OUT_OF_STOCK
    elif before <= 0 < after:
        kind = EventType.PRODUCT_RESTOCKED
    else:
        kind = None
    if kind is None:
        return []
    key = f"product:{product_id}"
    sequence = sequence_of(change)
    data = {"product_id": str(product_id), "name": product.get("name"), "stock": max(after, 0)}
    return [_occurrence(kind, key, str(sequence), _when(change, None), data, change)]


def from_ledger_change(change: Mapping[str, Any], user_id: ObjectId | None) -> list[Occurrence]:
    """`wallet.credited`: a ledger entry that adds money (a deposit, a transfer in, a
    refund), once per entry. `user_id`: the account's owner, when known."""
    entry = change.get("fullDocument")
    if change.get("operationType") != "insert" or not entry or entry.get("amount", 0) <= 0:
        return []
    key = f"account:{entry['account_id']}"
    data = {
        "account_id": str(entry["account_id"]),
        "user_id": None if user_id is None else str(user_id),
        "entry_id": str(entry["_id"]),
        "kind": entry.get("kind"),
        "amount": _money(entry["amount"], entry.get("currency", "")),
        "reason": entry.get("reason"),
        "reference_id": None if entry.get("reference_id") is None else str(entry["reference_id"]),
    }
    return [
        _occurrence(
            EventType.WALLET_CREDITED,
            key,
            str(entry["_id"]),
            _when(change, entry.get("created_at")),
            data,
            change,
        )
    ]
