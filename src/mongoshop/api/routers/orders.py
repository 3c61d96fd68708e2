"""Orders: place, read, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from mongoshop.api.deps import CurrentUser, IdempotencyKeyHeader, KeysetPaging, ShopDep
from mongoshop.api.responses import responses
from mongoshop.api.routers.wallet import REPLAY_HEADER
from mongoshop.api.routing import SingleValuedQueryRoute
from mongoshop.models.common import Page
from mongoshop.models.orders import OrderPublic, OrderRequest

router = APIRouter(prefix="/orders", tags=["orders"], route_class=SingleValuedQueryRoute)

OrderId = Annotated[str, Path(description="The order's id")]


@router.post("", status_code=status.HTTP_201_CREATED, responses=responses(401, 403, 404, 409, 422))
async def place_order(
    user: CurrentUser,
    shop: ShopDep,
    body: OrderRequest,
    key: IdempotencyKeyHeader,
    response: Response,
) -> OrderPublic:
    """Buy: stock and money are taken in one transaction, or nothing changes.

    409 `out_of_stock` or `insufficient_funds` leave everything as it was.
    """
    order, replayed = await shop.orders.place(user, body, key)
    response.headers[REPLAY_HEADER] = "true" if replayed else "false"
    return OrderPublic.of(order)


@router.get("", responses=responses(401, 404, 422))
async def list_orders(user: CurrentUser, shop: ShopDep, paging: KeysetPaging) -> Page[OrderPublic]:
    """Your orders, newest first (an admin sees everyone's)."""
    found = await shop.orders.list_for(user, paging)
    return found.map(OrderPublic.of)


@router.get("/{order_id}", responses=responses(401, 404))
async def read_order(user: CurrentUser, shop: ShopDep, order_id: OrderId) -> OrderPublic:
    return OrderPublic.of(await shop.orders.get_visible_to(user, order_id))


@router.post("/{order_id}/cancel", responses=responses(401, 404, 409))
async def cancel_order(user: CurrentUser, shop: ShopDep, order_id: OrderId) -> OrderPublic:
    """Restock and refund, once; a cancelled order cannot be cancelled again (409)."""
    return OrderPublic.of(await shop.orders.cancel(user, order_id))
