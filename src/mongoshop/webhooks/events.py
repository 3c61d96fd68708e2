"""Committed changes, as webhook events: pure functions of typed changes.

Each function takes one change (`mongoshop.streams.changes.Change`, its
document already the stored model) and returns the webhook events it means,
with what the delivery needs to keep the order of one object's events. Their
data are the API's public models, so a receiver and an API client see an
order in the same shape. No I/O: what it needs from elsewhere (an account's
owner) is passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from mongoshop.models.orders import OrderInDB, OrderPublic, OrderStatus
from mongoshop.models.products import ProductInDB
from mongoshop.models.users import UserInDB
from mongoshop.models.wallet import LedgerEntryInDB
from mongoshop.models.webhooks import (
    EventType,
    RegisteredUser,
    StockLevel,
    WalletCredit,
    WebhookEvent,
    event_id,
)
from mongoshop.streams.changes import Change

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Occurrence:
    """An event, with the object it is about and its place in the database's history."""

    event: WebhookEvent
    object_key: str
    sequence: int
    trace: Mapping[str, str] | None = None
    """The change event's trace context: its deliveries store it (`Change.trace`)."""


def _when(change: Change[Any], fallback: datetime | None) -> datetime:
    at = change.at or fallback or datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _occurrence(
    kind: EventType,
    object_key: str,
    discriminator: str,
    at: datetime,
    data: BaseModel,
    change: Change[Any],
) -> Occurrence:
    return Occurrence(
        WebhookEvent(
            id=event_id(kind, object_key, discriminator),
            type=kind,
            created_at=at.astimezone(UTC),
            data=data.model_dump(mode="json"),
        ),
        object_key,
        change.sequence,
        change.trace,
    )


def from_order_change(change: Change[OrderInDB]) -> list[Occurrence]:
    """An insert is `order.placed`; an update that sets the status to cancelled is
    `order.cancelled` (each happens once to an order: the order's id names it).

    The data is the order as `GET /orders/{id}` answers it. An order deleted before
    its event is read has nothing to tell (the shop never deletes orders)."""
    order = change.document
    key = f"order:{change.key}"
    if order is None:
        if change.operation in ("insert", "update"):
            logger.warning("order %s is gone before its event was read; not told", change.key)
        return []
    at: datetime | None
    if change.operation == "insert":
        kind, discriminator, at = EventType.ORDER_PLACED, "placed", order.created_at
    elif change.sets("status", OrderStatus.CANCELLED.value):
        kind, discriminator, at = EventType.ORDER_CANCELLED, "cancelled", order.cancelled_at
    else:
        return []
    public = OrderPublic.of(order)
    if kind is EventType.ORDER_CANCELLED:
        # The looked-up order is a later state; the event is its cancellation.
        public.status = OrderStatus.CANCELLED
    return [_occurrence(kind, key, discriminator, _when(change, at), public, change)]


def from_user_change(change: Change[UserInDB]) -> list[Occurrence]:
    """`user.registered`: an account created verified, or verified later (as the welcome)."""
    user = change.document
    if user is None or not user.email_verified:
        return []
    if change.operation == "update":
        if not change.sets("email_verified", True):
            return []
    elif change.operation != "insert":
        return []
    return [
        _occurrence(
            EventType.USER_REGISTERED,
            f"user:{user.id}",
            "registered",
            _when(change, user.created_at),
            RegisteredUser.of(user),
            change,
        )
    ]


def _quantity_after(change: Change[ProductInDB]) -> int | None:
    """The stock this change left: from the change itself where it says, else the
    looked-up document (a later state, only used when the change does not say)."""
    told = change.updated_fields.get("inventory.quantity")
    if isinstance(told, int):
        return told
    if change.operation == "update" and "inventory" not in change.updated_fields:
        return None  # not a stock change
    return None if change.document is None else change.document.inventory.quantity


def from_product_change(change: Change[ProductInDB]) -> list[Occurrence]:
    """`product.out_of_stock` when a change takes the stock from above 0 to 0 or less;
    `product.restocked` when it takes it from 0 or less to above 0.

    The stock before the change is its pre-image (``fullDocumentBeforeChange``,
    which the products collection records for its stream). Without one (pre-images
    off), a stock of 0 after a decrease is still told (it was above 0, or nothing
    would have changed), and a restock cannot be told from a mere increase.
    """
    if change.operation not in ("update", "replace"):
        return []
    after = _quantity_after(change)
    if after is None:
        return []
    before = None if change.before is None else change.before.inventory.quantity
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
    sequence = change.sequence
    data = StockLevel.of(change.key, change.document, max(after, 0))
    return [
        _occurrence(kind, f"product:{change.key}", str(sequence), _when(change, None), data, change)
    ]


def from_ledger_change(change: Change[LedgerEntryInDB], user_id: object | None) -> list[Occurrence]:
    """`wallet.credited`: a ledger entry that adds money (a deposit, a transfer in, a
    refund), once per entry. `user_id`: the account's owner, when known."""
    entry = change.document
    if change.operation != "insert" or entry is None or entry.amount <= 0:
        return []
    return [
        _occurrence(
            EventType.WALLET_CREDITED,
            f"account:{entry.account_id}",
            str(entry.id),
            _when(change, entry.created_at),
            WalletCredit.of_entry(entry, user_id),
            change,
        )
    ]
