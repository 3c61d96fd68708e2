"""The dashboards read their figures as last computed, and recompute them in the background.

A dashboard describes a whole collection; computing it reads every user or every
product. So `AsyncAnalyticsService` keeps each dashboard's figures in `figures`
and serves them from there (one read by `_id`), with when they were computed;
figures older than `dashboard_refresh_seconds` are served while they are
recomputed in the background, once at a time.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from mongoshop._async.services.analytics import WARM_UP
from mongoshop._async.shop import AsyncShop
from mongoshop.models.products import ProductCreate
from tests.integration.commerce.conftest import REFRESH
from tests.integration.helpers import MovingClock


async def add_product(shop: AsyncShop, name: str) -> None:
    await shop.catalog.create(
        ProductCreate.model_validate(
            {
                "name": name,
                "category": "books",
                "price": {"amount": 1_000, "currency": shop.settings.currency},
                "inventory": {"quantity": 3},
            }
        )
    )


async def settle(shop: AsyncShop) -> None:
    assert await shop.background.wait("products", 10), "the recomputation did not end"


async def test_figures_are_computed_on_the_first_read_then_served_as_stored(
    dshop: AsyncShop, clock: MovingClock
) -> None:
    await add_product(dshop, "First")
    first = await dshop.analytics.product_dashboard()
    assert first.totals.count == 1
    assert first.computed_at == clock.now

    await add_product(dshop, "Second")
    clock.advance(REFRESH / 2)
    again = await dshop.analytics.product_dashboard()

    assert again.totals.count == 1, "figures younger than the refresh period are served"
    assert again.computed_at == first.computed_at
    assert len(dshop.background) == 0, "nothing is recomputed before it is due"


async def test_due_figures_are_served_while_they_are_recomputed_in_the_background(
    dshop: AsyncShop, clock: MovingClock
) -> None:
    await add_product(dshop, "First")
    first = await dshop.analytics.product_dashboard()
    await add_product(dshop, "Second")
    clock.advance(REFRESH + 1)

    stale = await dshop.analytics.product_dashboard()
    assert stale.totals.count == 1
    assert stale.computed_at == first.computed_at
    await settle(dshop)
    fresh = await dshop.analytics.product_dashboard()

    assert fresh.totals.count == 2
    assert fresh.computed_at == clock.now


async def test_many_reads_of_due_figures_start_one_recomputation(
    dshop: AsyncShop, clock: MovingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_product(dshop, "First")
    await dshop.analytics.product_dashboard()
    clock.advance(REFRESH + 1)
    computed: list[int] = []
    statistics = dshop.repositories.products.statistics

    async def counted() -> Any:
        computed.append(1)
        await asyncio.sleep(0.2)
        return await statistics()

    monkeypatch.setattr(dshop.repositories.products, "statistics", counted)

    await asyncio.gather(*(dshop.analytics.product_dashboard() for _ in range(10)))
    await settle(dshop)

    assert computed == [1]


async def test_a_reader_asking_for_fresh_figures_gets_them_and_stores_them(
    dshop: AsyncShop, clock: MovingClock
) -> None:
    await add_product(dshop, "First")
    await dshop.analytics.user_dashboard()
    await dshop.analytics.product_dashboard()
    await add_product(dshop, "Second")
    clock.advance(1)

    fresh = await dshop.analytics.product_dashboard(fresh=True)
    stored = await dshop.analytics.product_dashboard()

    assert fresh.totals.count == stored.totals.count == 2
    assert stored.computed_at == clock.now


async def test_a_failed_recomputation_keeps_the_last_figures_and_is_tried_again(
    dshop: AsyncShop, clock: MovingClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_product(dshop, "First")
    first = await dshop.analytics.product_dashboard()
    clock.advance(REFRESH + 1)
    statistics = dshop.repositories.products.statistics

    async def broken() -> Any:
        raise RuntimeError("the aggregation failed")

    monkeypatch.setattr(dshop.repositories.products, "statistics", broken)
    assert (await dshop.analytics.product_dashboard()).computed_at == first.computed_at
    await settle(dshop)
    assert (await dshop.analytics.product_dashboard()).computed_at == first.computed_at

    await settle(dshop)  # the read above started another try: it failed too
    monkeypatch.setattr(dshop.repositories.products, "statistics", statistics)
    assert (await dshop.analytics.product_dashboard()).computed_at == first.computed_at
    await settle(dshop)  # the read above started a try with the repaired query
    assert (await dshop.analytics.product_dashboard()).computed_at == clock.now


async def test_figures_computed_earlier_never_replace_later_ones(
    dshop: AsyncShop, clock: MovingClock
) -> None:
    await add_product(dshop, "First")
    later = clock.now + timedelta(seconds=30)
    await dshop.repositories.figures.save("products", {"marker": "later"}, later)
    await dshop.repositories.figures.save("products", {"marker": "earlier"}, clock.now)

    stored = await dshop.repositories.figures.load("products")
    assert stored is not None
    assert stored.value == {"marker": "later"}
    assert stored.computed_at == later


async def test_the_warm_up_computes_missing_figures_in_the_background(
    dshop: AsyncShop, clock: MovingClock
) -> None:
    await add_product(dshop, "First")
    await dshop.analytics.warm_up()
    assert await dshop.background.wait(WARM_UP, 10)

    for name in ("users", "products"):
        stored = await dshop.repositories.figures.load(name)
        assert stored is not None
        assert stored.computed_at == clock.now


async def test_the_categories_for_the_listing_warmer_do_not_recompute_due_figures(
    dshop: AsyncShop, clock: MovingClock
) -> None:
    await add_product(dshop, "First")
    await dshop.analytics.product_dashboard()
    clock.advance(REFRESH + 1)

    assert await dshop.analytics.categories() == ["books"]
    assert len(dshop.background) == 0, "the warmer's every-30-s read started a recomputation"
