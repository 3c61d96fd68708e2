"""Dashboards: the user and product dashboards, and the sales analytics.

The dashboards describe whole collections: computing one reads every user or
every product (seconds at 100,000 on the embedded server). So their figures are
kept in the `figures` collection and a read costs one read by `_id` at any
size: figures older than `refresh_seconds` are still served (each says when it
was computed) while a recomputation runs in the background, once at a time
(stale-while-revalidate, RFC 5861). Only a dashboard never computed, or a caller
asking for fresh figures (`fresh`, the API's ``Cache-Control: no-cache``), waits
for the computation.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel

from mongoshop._async.compat import Background, Loader
from mongoshop._async.repositories.figures import AsyncFigureRepository
from mongoshop._async.repositories.orders import AsyncOrderRepository
from mongoshop._async.repositories.products import AsyncProductRepository
from mongoshop._async.repositories.users import AsyncUserRepository
from mongoshop.clock import Clock, start_of_month, utcnow
from mongoshop.models.orders import SalesPeriod, SalesReport
from mongoshop.models.products import ProductStats
from mongoshop.models.users import UserStats

FiguresT = TypeVar("FiguresT", bound=BaseModel)

USERS = "users"
PRODUCTS = "products"
WARM_UP = "dashboards' warm-up"


class AsyncAnalyticsService:
    def __init__(
        self,
        products: AsyncProductRepository,
        orders: AsyncOrderRepository,
        currency: str,
        *,
        users: AsyncUserRepository,
        figures: AsyncFigureRepository,
        refresh_seconds: float = 300.0,
        background: Background | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.products = products
        self.orders = orders
        self.users = users
        self.figures = figures
        self.currency = currency
        self.refresh = timedelta(seconds=refresh_seconds)
        self.background = background if background is not None else Background()
        self.clock = clock

    async def user_dashboard(self, *, fresh: bool = False) -> UserStats:
        """Totals, statuses, sign-ups this month and the top 10 by logins, as last computed."""
        return await self._figures(USERS, UserStats, self._user_figures, fresh)

    async def product_dashboard(self, *, fresh: bool = False) -> ProductStats:
        """Totals, categories, price buckets and the top 10 by rating, as last computed."""
        return await self._figures(PRODUCTS, ProductStats, self.products.statistics, fresh)

    async def categories(self) -> list[str]:
        """The categories as last counted, largest first (the listing warmer's list): the
        stored figures, not a reason to recompute them."""
        stored = await self.figures.load(PRODUCTS)
        if stored is None:
            return [row.category for row in (await self.product_dashboard()).by_category]
        return [row.category for row in ProductStats.model_validate(stored.value).by_category]

    async def sales(self, period: SalesPeriod) -> SalesReport:
        return await self.orders.sales_report(period, self.currency)

    async def warm_up(self) -> None:
        """Start computing, in the background, the dashboards whose figures are missing or
        due (start-up): one after the other, as each reads a whole collection, and one
        such read at a time leaves the server to the requests in between."""
        due = []
        for name, compute in ((PRODUCTS, self.products.statistics), (USERS, self._user_figures)):
            stored = await self.figures.load(name)
            if stored is None or self.clock() - stored.computed_at >= self.refresh:
                due.append(self._recompute(name, compute))

        async def in_turn() -> None:
            for recompute in due:
                await recompute()

        if due:
            self.background.start(WARM_UP, in_turn)

    async def _user_figures(self) -> UserStats:
        return await self.users.statistics(start_of_month(self.clock()))

    async def _figures(
        self,
        name: str,
        model: type[FiguresT],
        compute: Loader[FiguresT],
        fresh: bool,
    ) -> FiguresT:
        stored = None if fresh else await self.figures.load(name)
        if stored is None and not fresh:
            # The warm-up's, if it was computing them: wait rather than compute them twice.
            await self.background.wait(WARM_UP, None)
            await self.background.wait(name, None)
            stored = await self.figures.load(name)
        if stored is None:
            return await self._recompute(name, compute)()
        if self.clock() - stored.computed_at >= self.refresh:
            self.background.start(name, self._recompute(name, compute))
        return model.model_validate({**stored.value, "computed_at": stored.computed_at})

    def _recompute(self, name: str, compute: Loader[FiguresT]) -> Loader[FiguresT]:
        async def recompute() -> FiguresT:
            at = self.clock()
            figures = (await compute()).model_copy(update={"computed_at": at})
            await self.figures.save(
                name, figures.model_dump(mode="json", exclude={"computed_at"}), at
            )
            return figures

        return recompute
