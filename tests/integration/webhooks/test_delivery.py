"""Webhooks end to end in one process: committed changes, a real receiver, retries."""

from __future__ import annotations

import asyncio

import pytest

from mongoshop._async.shop import AsyncShop
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
        buyer.user,
        OrderRequest(items=[OrderItemRequest(product_id=str(product.id), quantity=quantity)]),
    )
    return buyer, order


async def test_an_order_reaches_the_receiver_signed_through_a_drop_a_timeout_and_a_500(
    wshop: AsyncShop, receiver: Receiver, subscribe: Subscribe
) -> None:
    receiver.script = scripted("drop", "hang:2", 500)
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
    assert body["data"]["id"] == str(order.id)

    page = await wshop.webhooks.deliveries_of(subscription.id)
    [delivery] = page.items
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts == 4
    assert [a.status_code for a in delivery.history] == [None, None, 500, 200]
    assert "timed out" in (delivery.history[1].error or "")
    assert delivery.history[2].error == "HTTP 500: ok"
    await asyncio.sleep(0.5)
    assert receiver.accepted_ids() == {body["id"]: 1}


async def test_every_event_type_reaches_a_subscription_to_it_and_only_those(
    wshop: AsyncShop, receiver: Receiver, subscribe: Subscribe
) -> None:
    everything = await subscribe()
    only_orders = await subscribe(EventType.ORDER_PLACED, url=receiver.url + "&only=orders")
    buyer, order = await place(wshop, quantity=2, stock=2)  # sells the last two: out of stock
    await wshop.orders.cancel(buyer.user, str(order.id))
    # the cancellation restocks the product and refunds the wallet (a credit)

    expected = {
        "order.placed",
        "order.cancelled",
        "user.registered",
        "product.out_of_stock",
        "product.restocked",
        "wallet.credited",
    }

    async def all_types_delivered() -> bool:
        page = await wshop.webhooks.deliveries_of(everything.id, limit=50)
        return {
            d.event_type.value for d in page.items if d.status is DeliveryStatus.DELIVERED
        } >= expected

    await eventually(all_types_delivered, 30, "one event of each type")
    narrow = await wshop.webhooks.deliveries_of(only_orders.id, limit=50)
    assert [d.event_type for d in narrow.items] == [EventType.ORDER_PLACED]
    by_type = {a.type: a.body for a in receiver.accepted()}
    assert by_type["product.out_of_stock"]["data"]["stock"] == 0
    assert by_type["product.restocked"]["data"]["stock"] == 2
    assert by_type["wallet.credited"]["data"]["account_id"] == str(buyer.account_id)
    assert by_type["wallet.credited"]["data"]["user_id"] == str(buyer.user.id)
    assert by_type["user.registered"]["data"]["email"] == buyer.user.email


async def test_placed_then_cancelled_arrive_in_that_order_even_when_placed_needs_retries(
    wshop: AsyncShop, receiver: Receiver, subscribe: Subscribe
) -> None:
    placed_ids: set[str] = set()

    def script(event_id: str, before: int) -> Answer:
        return 500 if event_id in placed_ids and before < 3 else 200

    receiver.script = script
    subscription = await subscribe(EventType.ORDER_PLACED, EventType.ORDER_CANCELLED)
    from mongoshop.models.webhooks import event_id

    buyer, order = await place(wshop)
    placed_ids.add(event_id(EventType.ORDER_PLACED, f"order:{order.id}", "placed"))
    await wshop.orders.cancel(buyer.user, str(order.id))

    await eventually(lambda: len(receiver.accepted()) == 2, 30, "both events")
    arrivals = receiver.snapshot()
    assert [a.type for a in arrivals] == ["order.placed"] * 4 + ["order.cancelled"]
    assert [a.answer for a in arrivals] == [500, 500, 500, 200, 200]

    async def both_recorded() -> bool:
        # The receiver's 200 comes before the deliverer records it: wait for the record.
        page = await wshop.webhooks.deliveries_of(subscription.id)
        return {d.status for d in page.items} == {DeliveryStatus.DELIVERED}

    await eventually(both_recorded, 10, "both deliveries recorded as delivered")


async def test_an_order_written_in_a_transaction_that_aborts_makes_no_event(
    wshop: AsyncShop, receiver: Receiver, subscribe: Subscribe
) -> None:
    await subscribe(EventType.ORDER_PLACED)
    buyer = await Customers(wshop).one()
    product = await Products(wshop).create(quantity=5)
    client = wshop.database.client
    orders = wshop.repositories.orders.collection
    aborted = {"user_id": buyer.user.id, "note": "never committed"}

    async with client.start_session() as session:
        await session.start_transaction()
        result = await orders.insert_one(aborted, session=session, bypass_document_validation=True)
        await session.abort_transaction()
    assert await orders.find_one({"_id": result.inserted_id}) is None

    # and one the service aborts: more than the stock
    with pytest.raises(Exception, match="stock"):
        await wshop.orders.place(
            buyer.user,
            OrderRequest(items=[OrderItemRequest(product_id=str(product.id), quantity=6)]),
        )
    # A committed order after them: once it is delivered, the stream has gone past both.
    committed, _ = await wshop.orders.place(
        buyer.user, OrderRequest(items=[OrderItemRequest(product_id=str(product.id), quantity=1)])
    )
    await eventually(lambda: receiver.accepted(), 30, "the committed order")
    await wshop.orders.place(
        buyer.user, OrderRequest(items=[OrderItemRequest(product_id=str(product.id), quantity=1)])
    )
    await eventually(lambda: len(receiver.accepted()) == 2, 30, "the next committed order")
    orders_told = [a.body["data"]["id"] for a in receiver.snapshot()]
    assert str(result.inserted_id) not in orders_told
    assert orders_told[0] == str(committed.id)
    assert len(orders_told) == 2


async def test_a_4xx_answer_is_final_the_delivery_dies_at_once(
    wshop: AsyncShop, receiver: Receiver, subscribe: Subscribe
) -> None:
    receiver.script = lambda event_id, before: 410
    subscription = await subscribe(EventType.ORDER_PLACED)
    await place(wshop)

    async def dead() -> bool:
        page = await wshop.webhooks.deliveries_of(subscription.id, status=DeliveryStatus.DEAD)
        return bool(page.items)

    await eventually(dead, 20, "the delivery to die")
    [delivery] = (await wshop.webhooks.deliveries_of(subscription.id)).items
    assert delivery.attempts == 1
    assert delivery.last_error == "HTTP 410: ok"
    await asyncio.sleep(0.5)
    assert len(receiver.snapshot()) == 1, "a 4xx is not tried again"


async def test_a_429_retry_after_is_honoured(
    wshop: AsyncShop, receiver: Receiver, subscribe: Subscribe
) -> None:
    receiver.script = scripted("retry-after:2")
    await subscribe(EventType.ORDER_PLACED)
    await place(wshop)
    await eventually(lambda: receiver.accepted(), 20, "the retried delivery")
    first, second = receiver.snapshot()
    assert second.at - first.at >= 1.9, "not before the receiver's Retry-After (2 s)"
    assert second.at - first.at < 6


async def test_an_endpoint_that_keeps_failing_is_paused_then_resumed_with_its_events_kept(
    wshop: AsyncShop, receiver: Receiver, subscribe: Subscribe
) -> None:
    assert wshop.settings.webhook_pause_after_dead == 5
    failing = True
    receiver.script = lambda event_id, before: 400 if failing else 200
    customers = Customers(wshop)
    buyer = await customers.one()  # its opening credit is before the subscription: not sent
    subscription = await subscribe(EventType.WALLET_CREDITED)
    for n in range(5):
        await customers.fund(buyer, 100, reason=f"top-up {n}")

    async def paused() -> bool:
        return (await wshop.webhooks.get(subscription.id)).status.value == "paused"

    await eventually(paused, 30, "the subscription to be paused")
    current = await wshop.webhooks.get(subscription.id)
    assert current.paused_reason is not None
    assert current.paused_reason.startswith("paused automatically: 5 deliveries in a row died")
    counts = await wshop.webhooks.counts()
    assert counts.paused_subscriptions == 1
    assert counts.dead == 5

    # While paused, new events are kept (held), not sent.
    await customers.fund(buyer, 100, reason="while paused")

    async def held() -> bool:
        return (await wshop.webhooks.counts()).held == 1

    await eventually(held, 20, "the new event to be held")
    tried = len(receiver.snapshot())
    failing = False
    assert await wshop.webhooks.resume(subscription.id) == 1
    await eventually(lambda: len(receiver.accepted()) == 1, 20, "the held event")
    assert len(receiver.snapshot()) == tried + 1
    assert receiver.accepted()[0].body["data"]["reason"] == "while paused"
    redriven = await wshop.webhooks.redrive_dead(subscription.id)
    assert redriven.redriven == 5
    await eventually(lambda: len(receiver.accepted()) == 6, 20, "the redriven ones")
    assert sorted(receiver.accepted_ids().values()) == [1] * 6
