"""Product models: catalog entries with price, stock and reviews."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mongoshop.models.common import (
    TRIMMED_PATTERN,
    InputModel,
    StoredModel,
    Trimmed,
    WholeNumber,
)
from mongoshop.models.money import Amount, Money

Category = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\w(?:[\w &'-]*[\w'])?$")]
Tag = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^\w(?:[\w -]*\w)?$")]
Tags = Annotated[list[Tag], Field(max_length=20)]
ProductName = Annotated[
    str,
    Field(min_length=1, max_length=200, json_schema_extra={"pattern": TRIMMED_PATTERN}),
    Trimmed,
]
Description = Annotated[str, Field(max_length=5000)]
MAX_QUANTITY = 10_000_000
"""The most stock a product may hold; adding past it is refused, never stored."""
Quantity = Annotated[int, Field(ge=0, le=MAX_QUANTITY, strict=True), WholeNumber]


class Inventory(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantity: Quantity = 0


class Reviews(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Annotated[float, Field(ge=0, le=5, allow_inf_nan=False, strict=True)] = 0.0
    count: Annotated[int, Field(ge=0, le=100_000_000, strict=True), WholeNumber] = 0


class ProductCreate(InputModel):
    name: ProductName
    description: Description = ""
    category: Category
    price: Money
    tags: Tags = Field(default_factory=list)
    inventory: Inventory = Field(default_factory=Inventory)
    reviews: Reviews = Field(default_factory=Reviews)


class ProductUpdate(InputModel):
    """A partial update; stock changes go through the inventory endpoint instead."""

    name: ProductName | None = None
    description: Description | None = None
    category: Category | None = None
    price: Money | None = None
    tags: Tags | None = None
    reviews: Reviews | None = None

    not_null: ClassVar[frozenset[str]] = frozenset(
        {"name", "description", "category", "price", "tags", "reviews"}
    )


class StoredInventory(BaseModel):
    """Stock as stored: whatever number is there loads (input bounds are checked on the way
    in), so a document another tool or an old bug left out of bounds never takes its
    product page, the catalog or ordering down; the guarded updates bring it back."""

    model_config = ConfigDict(extra="ignore")

    quantity: Annotated[int, Field(strict=True)] = 0


class ProductInDB(StoredModel):
    name: str
    description: str = ""
    category: str
    price: Money
    tags: list[str] = Field(default_factory=list)
    inventory: StoredInventory = Field(default_factory=StoredInventory)
    reviews: Reviews = Field(default_factory=Reviews)
    created_at: datetime
    updated_at: datetime


class ProductPublic(BaseModel):
    id: str
    name: str
    description: str
    category: str
    price: Money
    tags: list[str]
    inventory: StoredInventory
    reviews: Reviews
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, product: ProductInDB) -> ProductPublic:
        return cls(
            id=str(product.id),
            **product.model_dump(exclude={"id"}),
        )


class SortField(StrEnum):
    CREATED_AT = "created_at"
    PRICE = "price"
    NAME = "name"
    RATING = "rating"


SORT_PATHS = {
    SortField.CREATED_AT: "created_at",
    SortField.PRICE: "price.amount",
    SortField.NAME: "name",
    SortField.RATING: "reviews.rating",
}


class ProductQuery(BaseModel):
    """Filters and order of the catalog search; validated before any query is built."""

    q: Annotated[str | None, Field(max_length=200)] = None
    category: Category | None = None
    min_price: Amount | None = None
    max_price: Amount | None = None
    tags: Tags = Field(default_factory=list)
    sort: SortField = SortField.CREATED_AT
    order: Literal["asc", "desc"] = "desc"
    """A `min_price` above `max_price` is a range no price falls in: an empty result."""


class InventoryChange(InputModel):
    change: Annotated[
        int,
        Field(ge=-10_000_000, le=10_000_000, strict=True, json_schema_extra={"not": {"const": 0}}),
        WholeNumber,
    ]

    @model_validator(mode="after")
    def _non_zero(self) -> Self:
        if self.change == 0:
            raise ValueError("change must not be 0")
        return self


class PriceUpdate(InputModel):
    product_id: Annotated[str, Field(max_length=64)]
    new_price: Money


class BulkItemError(BaseModel):
    index: int
    product_id: str
    error: str


class BulkPriceResult(BaseModel):
    matched: int
    modified: int
    errors: list[BulkItemError]


class CategoryStats(BaseModel):
    category: str
    count: int
    avg_price: float


class PriceBucket(BaseModel):
    """Products whose price (minor units) is at least `min` and below `max` (None: no bound)."""

    min: int
    max: int | None
    count: int


class TopProduct(BaseModel):
    id: str
    name: str
    price: Money
    rating: float


class ProductTotals(BaseModel):
    count: int
    avg_price: float
    total_inventory: int
    out_of_stock: int


class ProductStats(BaseModel):
    """The product dashboard, from one ``$facet``. Prices in minor units."""

    totals: ProductTotals
    by_category: list[CategoryStats]
    price_distribution: list[PriceBucket]
    top_rated: list[TopProduct]
    computed_at: datetime | None = Field(
        default=None,
        description="When these figures were computed: a dashboard serves its last figures"
        " and recomputes them in the background once they are older than"
        " MONGOSHOP_DASHBOARD_REFRESH_SECONDS",
    )


UpsertField = Literal["name"]
"""Fields an import may match existing products on (each has an index)."""


class ImportResult(BaseModel):
    """One import batch: how many were inserted or updated, and which lines were refused."""

    inserted: int = 0
    updated: int = 0
    rejected: list[tuple[int, str]] = Field(default_factory=list)
