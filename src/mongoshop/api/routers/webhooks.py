"""Admin: webhook subscriptions and their deliveries (what the dashboard's panel reads)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from mongoshop.api.deps import AdminUser, ShopDep
from mongoshop.api.responses import responses
from mongoshop.api.routing import SingleValuedQueryRoute
from mongoshop.models.webhooks import (
    MAX_DELIVERY_PAGE,
    DeliveryList,
    DeliveryPublic,
    DeliveryStatus,
    RedriveResult,
    SubscriptionCreated,
    SubscriptionPublic,
    SubscriptionRequest,
    SubscriptionUpdate,
    WebhookCounts,
)

router = APIRouter(prefix="/admin/webhooks", tags=["webhooks"], route_class=SingleValuedQueryRoute)

DELIVERY_ID = r"^evt_[0-9a-f]{32}\.[0-9a-f]{24}$"
SubscriptionId = Annotated[str, Path(description="The subscription's id (24 hexadecimal digits)")]
DeliveryId = Annotated[str, Path(pattern=DELIVERY_ID, description="`<event id>.<subscription id>`")]


@router.post("", status_code=status.HTTP_201_CREATED, responses=responses(401, 403, 409, 422))
async def create_subscription(
    admin: AdminUser, shop: ShopDep, body: SubscriptionRequest
) -> SubscriptionCreated:
    """Subscribe a URL to event types. The answer holds the signing secret: the only
    time it is shown. A URL that is not https (in production) or that resolves to a
    private, loopback or link-local address is refused (422)."""
    return await shop.webhooks.create(body)


@router.get("", responses=responses(401, 403))
async def list_subscriptions(admin: AdminUser, shop: ShopDep) -> list[SubscriptionPublic]:
    """Every subscription, newest first (never their secrets)."""
    return await shop.webhooks.list_all()


@router.get("/stats", responses=responses(401, 403))
async def webhook_stats(admin: AdminUser, shop: ShopDep) -> WebhookCounts:
    """Deliveries pending, held (paused endpoints) and dead; subscriptions paused."""
    return await shop.webhooks.counts()


@router.get("/deliveries/dead", responses=responses(401, 403, 422))
async def dead_deliveries(
    admin: AdminUser,
    shop: ShopDep,
    limit: Annotated[int, Query(ge=1, le=MAX_DELIVERY_PAGE)] = 20,
) -> list[DeliveryPublic]:
    """The latest deliveries to die, across subscriptions, with their attempts."""
    return await shop.webhooks.newest_dead(limit)


@router.get("/deliveries/{delivery_id}", responses=responses(401, 403, 404, 422))
async def read_delivery(admin: AdminUser, shop: ShopDep, delivery_id: DeliveryId) -> DeliveryPublic:
    return await shop.webhooks.delivery(delivery_id)


@router.post("/deliveries/{delivery_id}/redrive", responses=responses(401, 403, 404, 409, 422))
async def redrive_delivery(
    admin: AdminUser, shop: ShopDep, delivery_id: DeliveryId
) -> DeliveryPublic:
    """Give a dead delivery a new round of attempts (409 when it is not dead)."""
    return await shop.webhooks.redrive(delivery_id)


@router.get("/{subscription_id}", responses=responses(401, 403, 404))
async def read_subscription(
    admin: AdminUser, shop: ShopDep, subscription_id: SubscriptionId
) -> SubscriptionPublic:
    return await shop.webhooks.get(subscription_id)


@router.patch("/{subscription_id}", responses=responses(401, 403, 404, 422))
async def update_subscription(
    admin: AdminUser, shop: ShopDep, subscription_id: SubscriptionId, body: SubscriptionUpdate
) -> SubscriptionPublic:
    """Change the URL, events or description; `status` pauses or resumes it (resuming
    sends the events kept meanwhile, in order)."""
    return await shop.webhooks.update(subscription_id, body)


@router.delete(
    "/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=responses(401, 403, 404),
)
async def delete_subscription(
    admin: AdminUser, shop: ShopDep, subscription_id: SubscriptionId
) -> None:
    """Delete it and its deliveries; pending ones are never sent."""
    await shop.webhooks.delete(subscription_id)


@router.get("/{subscription_id}/deliveries", responses=responses(401, 403, 404, 422))
async def subscription_deliveries(
    admin: AdminUser,
    shop: ShopDep,
    subscription_id: SubscriptionId,
    status: DeliveryStatus | None = None,
    after: Annotated[
        str | None,
        Query(pattern=DELIVERY_ID, description="`next_after` of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_DELIVERY_PAGE)] = 20,
) -> DeliveryList:
    """Its deliveries newest first, each with its attempts (status, duration, error)."""
    return await shop.webhooks.deliveries_of(
        subscription_id, status=status, after=after, limit=limit
    )


@router.post("/{subscription_id}/redrive", responses=responses(401, 403, 404))
async def redrive_subscription(
    admin: AdminUser, shop: ShopDep, subscription_id: SubscriptionId
) -> RedriveResult:
    """Give every dead delivery of this subscription a new round of attempts."""
    return await shop.webhooks.redrive_dead(subscription_id)
