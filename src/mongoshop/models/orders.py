"""Order models: the items bought, their price when bought, and the sales analytics."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, Field, model_validator

from mongoshop.models.common import InputModel, PyObjectId, StoredModel, WholeNumber
from mongoshop.models.money import Money
from mongoshop.models.users import UserContact

MAX_RECENT_ORDERS = 100
"""The most orders the admin's list of recent orders returns at once."""


class OrderStatus(StrEnum):
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class OrderItemRequest(InputModel):
    product_id: Annotated[str, Field(max_length=64)]
    quantity: Annotated[int, Field(ge=1, le=1000, strict=True), WholeNumber]


class OrderRequest(InputModel):
    items: Annotated[list[OrderItemRequest], Field(min_length=1, max_length=100)]


class OrderItem(BaseModel):
    product_id: PyObjectId
    name: str
    quantity: int
    unit_price: int
    """Minor units, snapshotted when the order was placed."""


ORDER_VERSION = 2
"""Version 2 stores `item_count`; version 1 (no `schema_version`) did not. Migration 0002
rewrites the old ones; until it has, they are read as if it had."""


class OrderInDB(StoredModel):
    user_id: PyObjectId
    account_id: PyObjectId
    items: list[OrderItem]
    total: Money
    status: OrderStatus
    idempotency_key: str | None = None
    request_hash: str | None = None
    created_at: datetime
    cancelled_at: datetime | None = None
    schema_version: int = 1
    item_count: int | None = None
    """How many units the order holds (version 2); computed for a version 1 document."""

    @model_validator(mode="after")
    def _read_version_1(self) -> Self:
        """A reader accepts the previous version while migration 0002 is in flight."""
        if self.item_count is None:
            self.item_count = sum(item.quantity for item in self.items)
        return self


class OrderItemPublic(BaseModel):
    product_id: str
    name: str
    quantity: int
    unit_price: Money


class OrderPublic(BaseModel):
    id: str
    user_id: str
    items: list[OrderItemPublic]
    total: Money
    status: OrderStatus
    created_at: datetime
    cancelled_at: datetime | None
    item_count: Annotated[int, Field(description="How many units the order holds")]

    @classmethod
    def of(cls, order: OrderInDB) -> OrderPublic:
        currency = order.total.currency
        return cls(
            id=str(order.id),
            user_id=str(order.user_id),
            items=[
                OrderItemPublic(
                    product_id=str(item.product_id),
                    name=item.name,
                    quantity=item.quantity,
                    unit_price=Money(amount=item.unit_price, currency=currency),
                )
                for item in order.items
            ],
            total=order.total,
            status=order.status,
            created_at=order.created_at,
            cancelled_at=order.cancelled_at,
            item_count=order.item_count or 0,
        )


class RecentOrder(BaseModel):
    """An order in the admin's list of recent orders, with who placed it."""

    order: OrderPublic
    buyer: UserContact | None
    """None when the buyer's account no longer exists."""


class SalesPeriod(BaseModel):
    """[start, end): an end at or before the start is an empty period, with no sales.

    Every instant is representable: a bound beyond what UTC can hold (such as
    year 1 at +05:00) is clamped to the first or last UTC instant, which
    selects the same orders.
    """

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _in_utc(self) -> Self:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a time zone (e.g. 2026-01-01T00:00:00Z)")
        self.start = _utc_or_bound(self.start)
        self.end = _utc_or_bound(self.end)
        return self

    @property
    def is_empty(self) -> bool:
        return self.end <= self.start


def _utc_or_bound(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        bound = datetime.min if moment.year == datetime.min.year else datetime.max
        return bound.replace(tzinfo=UTC)


class CategorySales(BaseModel):
    category: str
    total_sales: int
    total_items: int
    unique_products_count: int
    orders_count: int
    avg_order_value: int
    """Average total of the orders containing this category, rounded to minor units."""


class SalesSummary(BaseModel):
    total_sales: int
    total_items: int
    orders_count: int
    categories_count: int
    currency: str


class SalesReport(BaseModel):
    period: SalesPeriod
    summary: SalesSummary
    by_category: list[CategorySales]
    computed_at: datetime | None = Field(
        default=None,
        description="When the oldest figures in this report were computed: each full UTC day"
        " is kept as figures, recomputed when one of its orders is cancelled and, until the"
        " day is over, once older than MONGOSHOP_DASHBOARD_REFRESH_SECONDS",
    )
