"""Admin dashboards: the JSON the `/admin` page (and any other client) reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import ValidationError

from mongoshop.api.deps import AdminUser, ShopDep
from mongoshop.api.responses import responses
from mongoshop.api.routing import SingleValuedQueryRoute
from mongoshop.errors import ValidationFailed
from mongoshop.models.mail import OutboxStats
from mongoshop.models.orders import MAX_RECENT_ORDERS, RecentOrder, SalesPeriod, SalesReport
from mongoshop.models.products import ProductStats
from mongoshop.models.users import UserStats
from mongoshop.validation import describe_errors

router = APIRouter(prefix="/admin", tags=["admin"], route_class=SingleValuedQueryRoute)


@router.get("/stats/users", responses=responses(401, 403))
async def user_stats(admin: AdminUser, shop: ShopDep) -> UserStats:
    """Totals, statuses, sign-ups this month (UTC) and the top 10 by logins."""
    return await shop.users.statistics()


@router.get("/stats/products", responses=responses(401, 403))
async def product_stats(admin: AdminUser, shop: ShopDep) -> ProductStats:
    """Totals, categories, price distribution (minor units) and the top 10 by rating."""
    return await shop.analytics.product_dashboard()


@router.get("/analytics/sales", responses=responses(401, 403, 422))
async def sales(
    admin: AdminUser,
    shop: ShopDep,
    start: Annotated[datetime, Query(description="Inclusive, with a time zone")],
    end: Annotated[datetime, Query(description="Exclusive, with a time zone")],
) -> SalesReport:
    """Completed orders' sales in [start, end), by category, with a summary.

    An `end` at or before `start` is an empty period: a report of zeros.
    """
    try:
        period = SalesPeriod(start=start, end=end)
    except ValidationError as exc:
        raise ValidationFailed(describe_errors(exc.errors(include_url=False), limit=1)) from None
    return await shop.analytics.sales(period)


@router.get("/orders/recent", responses=responses(401, 403, 422))
async def recent_orders(
    admin: AdminUser,
    shop: ShopDep,
    limit: Annotated[
        int, Query(ge=1, le=MAX_RECENT_ORDERS, description="How many orders, newest first")
    ] = 10,
) -> list[RecentOrder]:
    """Everyone's latest orders, newest first, each with its buyer's name and e-mail."""
    return await shop.orders.recent(limit)


@router.get("/outbox/stats", responses=responses(401, 403))
async def outbox_stats(admin: AdminUser, shop: ShopDep) -> OutboxStats:
    """E-mails pending, sent and failed, and how long the oldest pending one has waited."""
    return await shop.mail.outbox_stats()
