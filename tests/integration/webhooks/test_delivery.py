"""Webhooks end to end in one process: committed changes, a real receiver, retries."""

from __future__ import annotations

import time

import pytest

from mongoshop._async.shop import AsyncShop
from mongoshop.events.worker import EventWorker
from mongoshop.models.orders import OrderItemRequest, OrderRequest
from mongoshop.models.webhooks import DeliveryStatus, EventType
from tests.integration.helpers import Customers, Products
from tests.integration.webhooks.conftest import Subscribe, eventually
from tests.integration.webhooks.receiver import Answer, Receiver

pytestmark = pytest.mark.usefixtures("worker")


def scripted(*answers: Answer) -> object:
    """Each event id gets these answers in turn, then 200."""

    def script(event_id: str, before: int) -> Answer:
        return answers[before] if before < len(answers) else 200

    return script


async def place(shop: AsyncShop, quantity: int = 1, stock: int = 10) -> tuple[object, object]:
    buyer = await Customers(shop).one()
    product = await Products(shop).create(quantity=stock)
    order, _ = await shop.orders.place(
        buyer.user, OrderRequest(items=[OrderItemRequest(product_id=str(product.id), quantity=quantity)])
    )
    return buyer, order


async def test_an_order_reaches_the_receiver_signed_through_a_drop_a_timeout_and_a_500(
    wshop: AsyncShop, receiver: Receiver, subscribe: Subscribe
) -> None:
    receiver.script = scripted("drop", "hang:2", 500)  # type: ignore[assignment]
    subscription = await subscribe(EventType.ORDER_PLACED)
    _, order = await place(wshop)

    await eventually(lambda: receiver.accepted(), 30, "the order to be delivered")
    arrivals = receiver.snapshot()
    assert [a.answer for a in arrivals] == ["drop", "hang:2", 500, 200]
    assert {a.event_id for a in arrivals} == {arrivals[0].event_id}
    assert all(a.verified for a in arrivals), "every attempt is signed with the secret"
    assert all(a.header_id == a.event_id for a in arrivals)
    body = arrivals[-1].body
    assert set(body) == {"id", "type", "created_at", "data"}
    assert body["type"] == "order.placed"
    assert body["data"]["order_id"] == str(order.id)  # type: ignore[attr-defined]

    page = await wshop.webhooks.deliveries_of(subscription.id)
    [delivery] = page.items
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts == 4
    assert [a.status_code for a in delivery.history] == [None, None, 500, 200]
    assert "timed out" in (delivery.history[1].error or "")
    assert delivery.history[2].error == "HTTP 500: ok"
    time.sleep(0.5)
    assert receiver.accepted_ids() == {body["id"]: 1}
