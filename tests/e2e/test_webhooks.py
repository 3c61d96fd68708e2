"""Webhooks over HTTP: the admin's subscriptions, a real receiver, deliveries, redrive."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.support import Api, assert_error, create_product, fund, place_order, wait_until
from tests.integration.webhooks.receiver import Answer, Receiver

UNKNOWN_ID = "0123456789abcdef01234567"


@pytest.fixture
def receiver(client: httpx.Client, admin_headers: dict[str, str]) -> Iterator[Receiver]:
    """A receiver for one test; the subscriptions to it are deleted with it (the session
    app's later events must not keep failing towards a receiver that is gone)."""
    server = Receiver().start()
    yield server
    server.stop()
    forget_subscriptions_to(client, admin_headers, server)


def forget_subscriptions_to(
    client: httpx.Client, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    for subscription in client.get("/admin/webhooks", headers=admin_headers).json():
        if subscription["url"].startswith(receiver.url):
            response = client.delete(f"/admin/webhooks/{subscription['id']}", headers=admin_headers)
            assert response.status_code == 204, response.text


def subscribe(
    client: httpx.Client, headers: dict[str, str], receiver: Receiver, *types: str
) -> dict[str, Any]:
    response = client.post(
        "/admin/webhooks",
        json={"url": receiver.url, "event_types": list(types), "description": "e2e receiver"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    receiver.secrets.append(created["secret"])
    return created


def deliveries(
    client: httpx.Client, headers: dict[str, str], subscription: str, **params: Any
) -> dict[str, Any]:
    response = client.get(
        f"/admin/webhooks/{subscription}/deliveries", params=params, headers=headers
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def test_the_secret_is_shown_once_and_a_signed_order_arrives(
    client: httpx.Client, api: Api, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    created = subscribe(client, admin_headers, receiver, "order.placed")
    assert created["secret"].startswith("whsec_")
    assert len(created["secret"]) > 40
    assert created["status"] == "active"
    read = client.get(f"/admin/webhooks/{created['id']}", headers=admin_headers).json()
    assert "secret" not in read
    listed = client.get("/admin/webhooks", headers=admin_headers).json()
    assert created["id"] in [s["id"] for s in listed]
    assert all("secret" not in s for s in listed)

    buyer = api.new_account("Webhook Buyer")
    fund(client, admin_headers, buyer, 10_000)
    product = create_product(client, admin_headers, stock=5, price=100)
    order = place_order(client, buyer, [(product["id"], 2)])
    assert order.status_code == 201, order.text

    wait_until(receiver.accepted, 30, "the order.placed event")
    [arrival] = receiver.snapshot()
    assert arrival.verified
    assert arrival.body["type"] == "order.placed"
    # The order as the API shows it, in the same shape: the API's own model.
    shown = client.get(f"/orders/{order.json()['id']}", headers=buyer.headers)
    assert shown.status_code == 200, shown.text
    assert arrival.body["data"] == shown.json() == order.json()
    assert arrival.body["data"]["items"][0]["quantity"] == 2

    page = wait_until(
        lambda: deliveries(client, admin_headers, created["id"], status="delivered")["items"],
        10,
        "the delivery to be recorded",
    )
    [delivery] = page
    assert delivery["event_id"] == arrival.event_id
    assert delivery["history"][0]["status_code"] == 200
    assert delivery["history"][0]["duration_ms"] >= 0
    redrive = client.post(
        f"/admin/webhooks/deliveries/{delivery['id']}/redrive", headers=admin_headers
    )
    assert_error(redrive, 409)


def test_a_dead_delivery_is_shown_and_redriven_once(
    client: httpx.Client, api: Api, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    refusing = True

    def script(event_id: str, before: int) -> Answer:
        return 422 if refusing else 200

    receiver.script = script
    created = subscribe(client, admin_headers, receiver, "wallet.credited")
    buyer = api.new_account("Webhook Credit")
    fund(client, admin_headers, buyer, 1_234)

    [dead] = wait_until(
        lambda: deliveries(client, admin_headers, created["id"], status="dead")["items"],
        30,
        "the refused delivery to die",
    )
    assert dead["attempts"] == 1
    assert dead["last_error"].startswith("HTTP 422")
    dead_list = client.get("/admin/webhooks/deliveries/dead", headers=admin_headers).json()
    assert dead["id"] in [d["id"] for d in dead_list]
    stats = client.get("/admin/webhooks/stats", headers=admin_headers).json()
    assert stats["dead"] >= 1

    refusing = False
    redriven = client.post(
        f"/admin/webhooks/deliveries/{dead['id']}/redrive", headers=admin_headers
    )
    assert redriven.status_code == 200, redriven.text
    assert redriven.json()["status"] == "pending"
    wait_until(receiver.accepted, 30, "the redriven delivery")
    time.sleep(0.5)
    assert receiver.accepted_ids() == {dead["event_id"]: 1}
    assert receiver.accepted()[0].body["data"]["amount"] == {"amount": 1_234, "currency": "EUR"}


def test_pausing_holds_the_events_and_resuming_sends_them(
    client: httpx.Client, api: Api, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    created = subscribe(client, admin_headers, receiver, "user.registered")
    paused = client.patch(
        f"/admin/webhooks/{created['id']}", json={"status": "paused"}, headers=admin_headers
    )
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    assert paused.json()["paused_reason"] == "paused by an admin"
    account = api.new_account("Webhook Newcomer")

    wait_until(
        lambda: deliveries(client, admin_headers, created["id"], status="held")["items"],
        30,
        "the registration to be held",
    )
    assert receiver.snapshot() == []
    resumed = client.patch(
        f"/admin/webhooks/{created['id']}", json={"status": "active"}, headers=admin_headers
    )
    assert resumed.json()["status"] == "active"
    wait_until(receiver.accepted, 30, "the held registration")
    [arrival] = receiver.accepted()
    assert arrival.body["data"]["id"] == account.id
    assert arrival.body["data"]["email"] == account.email


def test_deliveries_page_by_keyset_and_refuse_a_foreign_cursor(
    client: httpx.Client, api: Api, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    first = subscribe(client, admin_headers, receiver, "wallet.credited")
    other = subscribe(client, admin_headers, receiver, "wallet.credited")
    buyer = api.new_account("Webhook Pages")
    for amount in (101, 102, 103, 104, 105):
        fund(client, admin_headers, buyer, amount)
    wait_until(lambda: len(receiver.accepted()) >= 10, 30, "ten deliveries")

    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = deliveries(client, admin_headers, first["id"], **params)
        seen += [d["id"] for d in page["items"]]
        after = page["next_after"]
        if after is None:
            break
    everything = deliveries(client, admin_headers, first["id"], limit=100)["items"]
    assert seen == [d["id"] for d in everything]
    assert len(seen) == 5
    foreign = deliveries(client, admin_headers, other["id"], limit=1)["items"][0]["id"]
    response = client.get(
        f"/admin/webhooks/{first['id']}/deliveries",
        params={"after": foreign},
        headers=admin_headers,
    )
    assert_error(response, 404)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"url": "ftp://hooks.example/x", "event_types": ["order.placed"]}, "http or https"),
        ({"url": "https://u:p@hooks.example/x", "event_types": ["order.placed"]}, "password"),
        ({"url": "https://hooks.example/x#frag", "event_types": ["order.placed"]}, "fragment"),
        ({"url": "https://hooks.example/x", "event_types": []}, "event_types"),
        ({"url": "https://hooks.example/x", "event_types": ["order.shipped"]}, "event_types"),
        ({"url": "https://no-such-host.invalid/x", "event_types": ["order.placed"]}, "resolve"),
        ({"url": "http://127.0.0.1:9/\r\nX-Injected: 1", "event_types": ["order.placed"]}, "url"),
    ],
)
def test_bad_subscriptions_are_422_with_a_reason(
    client: httpx.Client, admin_headers: dict[str, str], body: dict[str, Any], fragment: str
) -> None:
    response = client.post("/admin/webhooks", json=body, headers=admin_headers)
    assert_error(response, 422)
    assert fragment in response.json()["detail"]


def test_unknown_and_malformed_ids(client: httpx.Client, admin_headers: dict[str, str]) -> None:
    assert_error(client.get(f"/admin/webhooks/{UNKNOWN_ID}", headers=admin_headers), 404)
    assert_error(client.get("/admin/webhooks/not-an-id", headers=admin_headers), 404)
    assert_error(client.delete(f"/admin/webhooks/{UNKNOWN_ID}", headers=admin_headers), 404)
    assert_error(
        client.get("/admin/webhooks/deliveries/not-a-delivery", headers=admin_headers), 422
    )


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+|NaN)$", text, re.M)
    assert match is not None, f"{name} not in /metrics"
    return float(match.group(1))


def test_metrics_show_attempts_latency_dead_deliveries_and_paused_endpoints(
    client: httpx.Client, api: Api, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    created = subscribe(client, admin_headers, receiver, "wallet.credited")
    buyer = api.new_account("Webhook Metrics")
    before = metric(
        client.get("/metrics").text,
        'mongoshop_webhook_attempt_duration_seconds_count{outcome="delivered"}',
    )
    fund(client, admin_headers, buyer, 777)
    wait_until(receiver.accepted, 30, "the credit")
    client.patch(
        f"/admin/webhooks/{created['id']}", json={"status": "paused"}, headers=admin_headers
    )

    # The gauges are counted when scraped, at most once per MONGOSHOP_METRICS_COUNT_SECONDS
    # (5 s): read them between two equal answers of the stats route (other subscriptions'
    # deliveries may move meanwhile) once they have caught up with it.
    gauges = {
        'mongoshop_webhook_deliveries{status="dead"}': "dead",
        'mongoshop_webhook_deliveries{status="pending"}': "pending",
        "mongoshop_webhook_paused_subscriptions": "paused_subscriptions",
    }
    for _ in range(60):
        stats = client.get("/admin/webhooks/stats", headers=admin_headers).json()
        text = client.get("/metrics").text
        caught_up = all(metric(text, name) == stats[key] for name, key in gauges.items())
        if caught_up and client.get("/admin/webhooks/stats", headers=admin_headers).json() == stats:
            break
        time.sleep(0.3)
    delivered = 'mongoshop_webhook_attempt_duration_seconds_count{outcome="delivered"}'
    assert metric(text, delivered) >= before + 1
    assert metric(text, "mongoshop_webhook_delivery_latency_seconds_count") >= 1
    assert metric(text, 'mongoshop_webhook_deliveries{status="dead"}') == stats["dead"]
    assert metric(text, 'mongoshop_webhook_deliveries{status="pending"}') == stats["pending"]
    assert metric(text, "mongoshop_webhook_paused_subscriptions") == stats["paused_subscriptions"]
    assert stats["paused_subscriptions"] >= 1
