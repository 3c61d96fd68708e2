"""Webhooks: subscriptions of other systems to the shop's events, and their deliveries.

An event is something that happened to one object, told once: a stable id
derived from the committed change it comes from (a restarted or second worker
derives the same), a type, when it happened, and its data. A delivery is one
event for one subscription: an item of an outbox, claimed with a lease, retried
with back-off, kept when it dies.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from mongoshop.models.common import InputModel, PyObjectId, StoredModel
from mongoshop.models.products import ProductInDB
from mongoshop.models.users import UserContact, UserInDB
from mongoshop.models.wallet import LedgerEntryInDB, LedgerEntryPublic


class EventType(StrEnum):
    ORDER_PLACED = "order.placed"
    ORDER_CANCELLED = "order.cancelled"
    USER_REGISTERED = "user.registered"
    """A new account whose address is confirmed (at its verification, when it needs one)."""
    PRODUCT_OUT_OF_STOCK = "product.out_of_stock"
    PRODUCT_RESTOCKED = "product.restocked"
    WALLET_CREDITED = "wallet.credited"


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    """In line to be sent, or due again at `available_at` (after a back-off, or when a
    sender's lease ends)."""
    HELD = "held"
    """Its subscription is paused: kept, and sent once it is resumed."""
    DELIVERED = "delivered"
    DEAD = "dead"
    """Given up after the last attempt, or refused for good (a 4xx): kept, re-drivable."""


EVENT_ID_PREFIX = "evt_"


def event_id(kind: EventType, object_key: str, discriminator: str) -> str:
    """The id of the event `kind` of the object `object_key`, told apart by `discriminator`.

    Derived, never random: every worker that sees the same committed change
    derives the same id, so one delivery per (event, subscription) is a unique
    key, and a receiver can de-duplicate by it. The discriminator is the
    object's own (an order is placed once) or the change's cluster time (a
    product runs out of stock again and again).
    """
    digest = hashlib.sha256(f"{kind.value}|{object_key}|{discriminator}".encode()).hexdigest()
    return EVENT_ID_PREFIX + digest[:32]


class WebhookEvent(BaseModel):
    """The body a receiver gets, as JSON: its `id` is the de-duplication key.

    `data` is one of the API's own models (`OrderPublic` for the order events;
    `RegisteredUser`, `StockLevel`, `WalletCredit` built from the public ones),
    stored as the JSON it is sent as, so a delivery enqueued by an older
    version is sent as it was told.
    """

    id: str
    type: EventType
    created_at: datetime
    data: dict[str, Any]


class RegisteredUser(UserContact):
    """`user.registered`'s data: the user as the API names them in lists, and since when."""

    created_at: datetime

    @classmethod
    def of(cls, user: UserInDB) -> RegisteredUser:
        return cls(id=str(user.id), name=user.name, email=user.email, created_at=user.created_at)


class StockLevel(BaseModel):
    """The stock events' data: the product (`id` and `name` as in `ProductPublic`) and the
    stock the change left (never below 0: an oversold product has none)."""

    id: str
    name: str | None
    stock: int

    @classmethod
    def of(cls, product_id: object, product: ProductInDB | None, stock: int) -> StockLevel:
        return cls(id=str(product_id), name=None if product is None else product.name, stock=stock)


class WalletCredit(LedgerEntryPublic):
    """`wallet.credited`'s data: the ledger entry as the API lists it, with its account and
    the account's owner (null when the account is gone)."""

    account_id: str
    user_id: str | None

    @classmethod
    def of_entry(cls, entry: LedgerEntryInDB, user_id: object | None) -> WalletCredit:
        return cls(
            **LedgerEntryPublic.of(entry).model_dump(),
            account_id=str(entry.account_id),
            user_id=None if user_id is None else str(user_id),
        )


class SubscriptionInDB(StoredModel):
    url: str
    event_types: list[EventType]
    secret: str
    """The HMAC key: shown once when created, then only ever used to sign."""
    description: str | None = None
    status: SubscriptionStatus
    paused_reason: str | None = None
    paused_at: datetime | None = None
    consecutive_dead: int = 0
    """Deliveries that died in a row (reset by a success): what pauses a failing endpoint."""
    failed_attempts: int = 0
    """Attempts that failed in a row (reset by a success): what opens the circuit."""
    circuit_open_until: datetime | None = None
    """No attempt is made to it before then: its endpoint failed too often in a row."""
    created_at: datetime
    updated_at: datetime


class SubscriptionPublic(BaseModel):
    id: str
    url: str
    event_types: list[EventType]
    description: str | None
    status: SubscriptionStatus
    paused_reason: Annotated[
        str | None,
        Field(description="Why it is paused: by an admin, or automatically after failures"),
    ]
    paused_at: datetime | None
    consecutive_dead: Annotated[
        int, Field(description="Deliveries that died in a row since the last success")
    ]
    failed_attempts: Annotated[
        int, Field(description="Attempts that failed in a row since the last success")
    ] = 0
    circuit_open_until: Annotated[
        datetime | None,
        Field(
            description="Its endpoint failed too often in a row: no attempt is made to it"
            " before then (its deliveries wait, in order)"
        ),
    ] = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, subscription: SubscriptionInDB) -> SubscriptionPublic:
        return cls(
            id=str(subscription.id),
            url=subscription.url,
            event_types=subscription.event_types,
            description=subscription.description,
            status=subscription.status,
            paused_reason=subscription.paused_reason,
            paused_at=subscription.paused_at,
            consecutive_dead=subscription.consecutive_dead,
            failed_attempts=subscription.failed_attempts,
            circuit_open_until=subscription.circuit_open_until,
            created_at=subscription.created_at,
            updated_at=subscription.updated_at,
        )


class SubscriptionCreated(SubscriptionPublic):
    secret: Annotated[
        str,
        Field(
            description="The signing secret: shown in this answer only. Keep it where the"
            " receiver can read it; it cannot be read again (delete and re-create to change it)"
        ),
    ]


URL_MAX_LENGTH = 2000
URL_PATTERN = r"^https?://[^\s/?#@]+([/?][^\s#]*)?$"
"""The form of a subscription URL, for the OpenAPI schema. The checks themselves are
`mongoshop.webhooks.targets.parse_target` (each failure with its own message), and
what no pattern can say: where the host resolves."""
URL_SCHEMA = {"pattern": URL_PATTERN, "format": "uri"}


class SubscriptionRequest(InputModel):
    url: Annotated[
        str,
        Field(
            min_length=8,
            max_length=URL_MAX_LENGTH,
            description="Where events are POSTed: https (http only outside production);"
            " private, loopback and link-local addresses are refused",
            json_schema_extra=URL_SCHEMA,
        ),
    ]
    event_types: Annotated[list[EventType], Field(min_length=1, max_length=len(EventType))]
    description: Annotated[str | None, Field(max_length=200)] = None


class SubscriptionUpdate(InputModel):
    """A partial update: pause or resume, change the URL or the events."""

    not_null = frozenset({"url", "event_types", "status"})

    url: Annotated[
        str | None,
        Field(min_length=8, max_length=URL_MAX_LENGTH, json_schema_extra=URL_SCHEMA),
    ] = None
    event_types: Annotated[
        list[EventType] | None, Field(min_length=1, max_length=len(EventType))
    ] = None
    status: SubscriptionStatus | None = None
    description: Annotated[str | None, Field(max_length=200)] = None


class Attempt(BaseModel):
    """One try at delivering: what the receiver answered, or why nothing was."""

    model_config = ConfigDict(extra="ignore")

    at: datetime
    status_code: int | None = None
    duration_ms: int
    error: str | None = None


class DeliveryInDB(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    key: str = Field(alias="_id")
    """``<event id>.<subscription id>``: one delivery per (event, subscription)."""
    event: WebhookEvent
    subscription_id: PyObjectId
    object_key: str
    """The object the event is about (``order:<id>``): deliveries of one object to one
    subscription go out in `sequence` order."""
    sequence: int
    """Where the change sits in the database's history (its cluster time)."""
    status: DeliveryStatus
    attempts: int = 0
    available_at: datetime | None = None
    """Pending out of the line: when it is due again (a back-off, a lease, an earlier
    event of its object). None while it stands in line (`place`), due since `lined_at`."""
    place: int | None = None
    lined_at: datetime | None = None
    due_at: datetime | None = None
    """Out of the line, pending: `available_at` again, in the field the sweep reads (done
    items keep `available_at`, never this)."""
    claimed_by: str | None = None
    last_error: str | None = None
    history: list[Attempt] = []
    created_at: datetime
    finished_at: datetime | None = None
    """When it was delivered, or died."""
    trace: dict[str, str] | None = None
    """The trace context of the change event that caused it (where tracing is on): its
    attempts are spans of that trace."""


class DeliveryPublic(BaseModel):
    id: str
    event_id: str
    event_type: EventType
    subscription_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: Annotated[
        datetime | None,
        Field(description="When it is tried next, while pending (a time past: in line now)"),
    ]
    last_error: str | None
    history: Annotated[
        list[Attempt], Field(description="The latest attempts, oldest first (up to 20)")
    ]
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, delivery: DeliveryInDB) -> DeliveryPublic:
        return cls(
            id=delivery.key,
            event_id=delivery.event.id,
            event_type=delivery.event.type,
            subscription_id=str(delivery.subscription_id),
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=(delivery.available_at or delivery.lined_at)
            if delivery.status is DeliveryStatus.PENDING
            else None,
            last_error=delivery.last_error,
            history=delivery.history,
            created_at=delivery.created_at,
            finished_at=delivery.finished_at,
        )


class WebhookCounts(BaseModel):
    """The deliveries that need looking at, and the endpoints paused."""

    pending: int
    held: int
    dead: int
    paused_subscriptions: int
    subscriptions: int


class RedriveResult(BaseModel):
    redriven: Annotated[int, Field(description="Dead deliveries made pending again")]


MAX_DELIVERY_PAGE = 100


class DeliveryList(BaseModel):
    items: list[DeliveryPublic]
    next_after: Annotated[
        str | None,
        Field(description="Pass as `after` for the next (older) page; null on the last one"),
    ]
