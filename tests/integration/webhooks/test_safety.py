"""Webhooks never reach the shop's own network: at subscription time and at delivery time."""

from __future__ import annotations

import asyncio

import pytest

from mongoshop._async.services.webhooks import AsyncWebhookService
from mongoshop._async.shop import AsyncShop
from mongoshop.errors import ValidationFailed
from mongoshop.models.webhooks import DeliveryStatus, EventType, SubscriptionRequest
from mongoshop.worker.event_worker import EventWorker
from tests.integration.helpers import Customers
from tests.integration.webhooks.conftest import eventually
from tests.integration.webhooks.receiver import Receiver

PUBLIC = "93.184.215.14"


def resolving_to(*addresses: str):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def production_service(shop: AsyncShop, *addresses: str) -> AsyncWebhookService:
    """The service as production builds it: https only, public addresses only."""
    return AsyncWebhookService(
        shop.repositories.webhook_subscriptions,
        shop.repositories.webhook_deliveries,
        resolver=resolving_to(*addresses),
        require_https=True,
        allow_private=False,
    )


@pytest.mark.parametrize(
    ("url", "addresses", "reason"),
    [
        ("http://hooks.example/x", [PUBLIC], "must be https"),
        ("https://127.0.0.1/x", [], "loopback"),
        ("https://[::1]/x", [], "loopback"),
        ("https://10.1.2.3/x", [], "private"),
        ("https://192.168.0.10:8443/x", [], "private"),
        ("https://169.254.169.254/latest/meta-data", [], "link-local"),
        ("https://[::ffff:10.0.0.1]/x", [], "private"),
        ("https://[fd00:ec2::254]/x", [], "private"),
        ("https://0.0.0.0/x", [], "private"),
        ("https://localhost/x", ["127.0.0.1"], "loopback"),
        ("https://internal.example/x", [PUBLIC, "10.0.0.7"], "private"),
    ],
)
async def test_production_refuses_a_subscription_to_an_internal_address(
    wshop: AsyncShop, url: str, addresses: list[str], reason: str
) -> None:
    service = production_service(wshop, *addresses)
    with pytest.raises(ValidationFailed, match=reason):
        await service.create(SubscriptionRequest(url=url, event_types=[EventType.ORDER_PLACED]))
    assert await wshop.repositories.webhook_subscriptions.count() == 0


async def test_production_accepts_a_public_https_url(wshop: AsyncShop) -> None:
    service = production_service(wshop, PUBLIC)
    created = await service.create(
        SubscriptionRequest(url="https://hooks.example/x", event_types=[EventType.ORDER_PLACED])
    )
    assert created.url == "https://hooks.example/x"


async def test_a_name_that_resolves_to_loopback_at_delivery_time_is_not_called(
    wshop: AsyncShop, receiver: Receiver
) -> None:
    """DNS rebinding: public when subscribed, 127.0.0.1 when delivered: refused then too."""
    strict = wshop.settings.model_copy(update={"webhook_allow_private_targets": False})
    shop = AsyncShop(wshop.database, strict, resolver=resolving_to(PUBLIC))
    url = f"http://rebinding.example:{receiver.port}/hooks"
    created = await shop.webhooks.create(
        SubscriptionRequest(url=url, event_types=[EventType.WALLET_CREDITED])
    )
    worker = EventWorker(shop, resolver=resolving_to("127.0.0.1"))
    await worker.start()
    try:
        await Customers(shop).one()  # its opening credit is an event

        async def refused() -> bool:
            page = await shop.webhooks.deliveries_of(created.id)
            return bool(page.items) and bool(page.items[0].history)

        await eventually(refused, 20, "an attempt to be refused")
        [delivery] = (await shop.webhooks.deliveries_of(created.id)).items
        assert delivery.history[0].status_code is None
        assert delivery.history[0].error is not None
        assert "resolves to 127.0.0.1: a loopback address" in delivery.history[0].error
        assert delivery.status is DeliveryStatus.PENDING, "refused now, tried again later"
        await asyncio.sleep(1)
        assert receiver.snapshot() == [], "the receiver on loopback was never called"
    finally:
        await worker.stop(grace=5)
