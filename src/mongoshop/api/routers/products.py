"""The catalog: public search and reading, admin writes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, status

from mongoshop.api.deps import AdminUser, Paging, ShopDep
from mongoshop.api.responses import responses
from mongoshop.api.routing import SingleValuedQueryRoute
from mongoshop.models.common import Page
from mongoshop.models.money import MAX_AMOUNT
from mongoshop.models.products import (
    BulkPriceResult,
    Category,
    InventoryChange,
    PriceUpdate,
    ProductCreate,
    ProductPublic,
    ProductQuery,
    ProductUpdate,
    SortField,
    Tag,
)

router = APIRouter(prefix="/products", tags=["products"], route_class=SingleValuedQueryRoute)

ProductId = Annotated[str, Path(description="The product's id (24 hexadecimal characters)")]


@router.get("", responses=responses(422))
async def search_products(
    shop: ShopDep,
    paging: Paging,
    q: Annotated[
        str | None, Query(max_length=200, description="Words of name, category, tags")
    ] = None,
    category: Annotated[Category | None, Query()] = None,
    min_price: Annotated[int | None, Query(ge=0, le=MAX_AMOUNT, description="Minor units")] = None,
    max_price: Annotated[int | None, Query(ge=0, le=MAX_AMOUNT, description="Minor units")] = None,
    tags: Annotated[list[Tag] | None, Query(max_length=20, description="All of them")] = None,
    sort: SortField = SortField.CREATED_AT,
    order: Literal["asc", "desc"] = "desc",
) -> Page[ProductPublic]:
    """Search the catalog with filters, a whitelisted sort and pages of at most 100."""
    query = ProductQuery(
        q=q,
        category=category,
        min_price=min_price,
        max_price=max_price,
        tags=tags or [],
        sort=sort,
        order=order,
    )
    found = await shop.catalog.search(query, paging)
    return found.map(ProductPublic.of)


@router.post("", status_code=status.HTTP_201_CREATED, responses=responses(401, 403, 422))
async def create_product(admin: AdminUser, shop: ShopDep, body: ProductCreate) -> ProductPublic:
    """Admin: add a product (price in the shop's currency)."""
    return ProductPublic.of(await shop.catalog.create(body))


@router.post("/bulk-prices", responses=responses(401, 403, 422))
async def bulk_prices(
    admin: AdminUser,
    shop: ShopDep,
    body: Annotated[list[PriceUpdate], Body(min_length=1, max_length=1000)],
) -> BulkPriceResult:
    """Admin: set many prices in one bulk write; bad or unknown ids are reported per item.

    A price in another currency than the shop's is refused with the whole
    request (the contract names the one currency accepted).
    """
    return await shop.catalog.bulk_update_prices(body)


@router.get("/{product_id}", responses=responses(404))
async def read_product(shop: ShopDep, product_id: ProductId) -> ProductPublic:
    return ProductPublic.of(await shop.catalog.get(product_id))


@router.patch("/{product_id}", responses=responses(401, 403, 404, 422))
async def update_product(
    admin: AdminUser, shop: ShopDep, product_id: ProductId, body: ProductUpdate
) -> ProductPublic:
    """Admin: change name, description, category, price, tags or reviews."""
    return ProductPublic.of(await shop.catalog.update(product_id, body))


@router.post("/{product_id}/inventory", responses=responses(401, 403, 404, 409, 422))
async def change_inventory(
    admin: AdminUser, shop: ShopDep, product_id: ProductId, body: InventoryChange
) -> ProductPublic:
    """Admin: add (positive) or remove (negative) stock; never below zero (409)."""
    return ProductPublic.of(await shop.catalog.change_inventory(product_id, body.change))
