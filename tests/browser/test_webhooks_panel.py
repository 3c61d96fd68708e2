"""The dashboard's webhooks panel in a real browser: add (the secret shown once), a dead
delivery with its attempts, redrive from the page, pause."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Tab
from tests.browser.test_admin_dashboard import get, sign_in_as_admin
from tests.e2e.conftest import RunningApp
from tests.e2e.support import Api, create_product, new_buyer, place_order
from tests.e2e.test_webhooks import forget_subscriptions_to
from tests.integration.webhooks.receiver import Answer, Receiver

HOSTILE = "<img/src=x/onerror=window.pwned=1>"


@pytest.fixture
def receiver(client: httpx.Client, admin_headers: dict[str, str]) -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()
    forget_subscriptions_to(client, admin_headers, server)


def test_an_admin_adds_a_subscription_sees_a_dead_delivery_and_redrives_it(
    tab: Tab,
    app: RunningApp,
    api: Api,
    client: httpx.Client,
    admin_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    refusing = True

    def script(event_id: str, before: int) -> Answer:
        return 400 if refusing else 200

    receiver.script = script
    sign_in_as_admin(tab, app)
    page = tab.page
    expect(page.locator("#webhook-subscriptions")).to_have_attribute("data-ready", "true")
    stats = get(client, admin_headers, "/admin/webhooks/stats")
    shown = page.locator('[data-figure="webhooks-dead"]').get_attribute("data-value")
    assert shown == str(stats["dead"])

    url = f"{receiver.url}&note={HOSTILE}"
    page.fill("#webhook-url", url)
    page.check('#webhook-events input[value="order.placed"]')
    page.click("#webhook-add")
    secret = page.locator("#webhook-secret-value")
    expect(secret).to_have_text(re.compile(r"^whsec_[A-Za-z0-9_-]{40,}$"))
    receiver.secrets.append(secret.inner_text())
    subscriptions = get(client, admin_headers, "/admin/webhooks")
    [created] = [s for s in subscriptions if s["url"] == url]
    row = page.locator(f'#webhook-subscriptions tr[data-subscription-id="{created["id"]}"]')
    expect(row.locator("td").first).to_have_text(url)  # the markup is text, not an image
    assert row.locator("img").count() == 0
    assert page.evaluate("window.pwned") is None

    buyer = new_buyer(api, client, admin_headers, funds=10_000)
    product = create_product(client, admin_headers, stock=5, price=250)
    assert place_order(client, buyer, [(product["id"], 1)]).status_code == 201
    deadline = time.monotonic() + 30
    while not get(
        client, admin_headers, f"/admin/webhooks/{created['id']}/deliveries", status="dead"
    )["items"]:
        assert time.monotonic() < deadline, "the refused delivery never died"
        time.sleep(0.2)
    [dead] = get(client, admin_headers, f"/admin/webhooks/{created['id']}/deliveries")["items"]

    page.click("#refresh")
    dead_row = page.locator(f'#webhook-dead tr[data-delivery-id="{dead["id"]}"]')
    expect(dead_row).to_contain_text("HTTP 400")
    row.get_by_role("button", name="Deliveries").click()
    history = page.locator(f'#webhook-deliveries tr[data-delivery-id="{dead["id"]}"]')
    expect(history).to_contain_text("HTTP 400")
    expect(history).to_contain_text(" ms")

    refusing = False
    dead_row.get_by_role("button", name="Redrive").click()
    deadline = time.monotonic() + 30
    while not receiver.accepted():
        assert time.monotonic() < deadline, "the redriven delivery never arrived"
        time.sleep(0.2)
    assert receiver.accepted()[0].verified
    assert receiver.accepted()[0].event_id == dead["event_id"]

    row.get_by_role("button", name="Pause").click()
    expect(row).to_contain_text("paused: paused by an admin")
    row.get_by_role("button", name="Resume").click()
    expect(row.locator("td").nth(2)).to_have_text("active")
    tab.assert_clean(allowed_statuses=())


def test_an_endpoint_paused_after_failing_is_announced_at_the_top_of_the_panel(
    tab: Tab,
    app: RunningApp,
    api: Api,
    client: httpx.Client,
    admin_headers: dict[str, str],
    receiver: Receiver,
) -> None:
    receiver.script = lambda event_id, before: 400
    url = f"{receiver.url}&failing=1"
    created = client.post(
        "/admin/webhooks",
        json={"url": url, "event_types": ["wallet.credited"]},
        headers=admin_headers,
    )
    assert created.status_code == 201, created.text
    buyer = api.new_account("Failing Endpoint")
    account = client.get("/accounts/me", headers=buyer.headers).json()["id"]
    for n in range(5):  # MONGOSHOP_WEBHOOK_PAUSE_AFTER_DEAD: five in a row
        response = client.post(
            f"/accounts/{account}/credit",
            json={"amount": 100 + n, "currency": "EUR", "reason": f"failing {n}"},
            headers=admin_headers,
        )
        assert response.status_code == 200, response.text
    deadline = time.monotonic() + 30
    while (
        get(client, admin_headers, f"/admin/webhooks/{created.json()['id']}")["status"] != "paused"
    ):
        assert time.monotonic() < deadline, "the failing endpoint was never paused"
        time.sleep(0.2)

    sign_in_as_admin(tab, app)
    alert = tab.page.locator("#webhooks-paused-alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("paused after failing")
    expect(alert).to_contain_text(url)
    row = tab.page.locator(
        f'#webhook-subscriptions tr[data-subscription-id="{created.json()["id"]}"]'
    )
    expect(row).to_contain_text("paused automatically: 5 deliveries in a row died")
    tab.assert_clean()
