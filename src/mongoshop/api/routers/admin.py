"""Admin dashboards: the JSON the `/admin` page (and any other client) reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query
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


CacheControl = Annotated[
    str | None,
    Header(
        description="`no-cache` (or `max-age=0`): compute the figures now instead of"
        " serving the last ones (this reads the whole collection)"
    ),
]


def wants_fresh(cache_control: str | None) -> bool:
    """Does the request's Cache-Control refuse stored figures (RFC 9111 section 5.2.1)?"""
    directives = {part.strip().lower() for part in (cache_control or "").split(",")}
    return bool(directives & {"no-cache", "max-age=0"})


@router.get("/stats/users", responses=responses(401, 403))
async def user_stats(
    admin: AdminUser, shop: ShopDep, cache_control: CacheControl = None
) -> UserStats:
    """Totals, statuses, sign-ups this month (UTC) and the top 10 by logins.

    The figures as last computed (`computed_at`), recomputed in the background once
    older than MONGOSHOP_DASHBOARD_REFRESH_SECONDS: one read at any size.
    """
    return await shop.analytics.user_dashboard(fresh=wants_fresh(cache_control))


@router.get("/stats/products", responses=responses(401, 403))
async def product_stats(
    admin: AdminUser, shop: ShopDep, cache_control: CacheControl = None
) -> ProductStats:
    """Totals, categories, price distribution (minor units) and the top 10 by rating.

    The figures as last computed (`computed_at`), like `/admin/stats/users`.
    """
    return await shop.analytics.product_dashboard(fresh=wants_fresh(cache_control))


@router.get("/analytics/sales", responses=responses(401, 403, 422))
async def sales(
    admin: AdminUser,
    shop: ShopDep,
    start: Annotated[datetime, Query(description="Inclusive, with a time zone")],
    end: Annotated[datetime, Query(description="Exclusive, with a time zone")],
    cache_control: CacheControl = None,
) -> SalesReport:
    """Completed orders' sales in [start, end), by category, with a summary.

    An `end` at or before `start` is an empty period: a report of zeros. Each full
    UTC day of the period is read from its figures, kept until one of its orders is
    cancelled (and, until the day is over, refreshed like the other dashboards); the
    oldest used is `computed_at`. `Cache-Control: no-cache` computes the period now.
    """
    try:
        period = SalesPeriod(start=start, end=end)
    except ValidationError as exc:
        raise ValidationFailed(describe_errors(exc.errors(include_url=False), limit=1)) from None
    return await shop.analytics.sales(period, fresh=wants_fresh(cache_control))


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
