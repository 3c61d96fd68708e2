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

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel

from mongoshop._async.compat import Background, Loader
from mongoshop._async.repositories.figures import AsyncFigureRepository
from mongoshop._async.repositories.orders import AsyncOrderRepository
from mongoshop._async.repositories.products import AsyncProductRepository
from mongoshop._async.repositories.users import AsyncUserRepository
from mongoshop.clock import Clock, start_of_month, utcnow
from mongoshop.models import sales as sales_days
from mongoshop.models.orders import SalesPeriod, SalesReport
from mongoshop.models.products import ProductStats
from mongoshop.models.sales import DaySales
from mongoshop.models.users import UserStats

FiguresT = TypeVar("FiguresT", bound=BaseModel)

USERS = "users"
PRODUCTS = "products"
WARM_UP = "dashboards' warm-up"
SALES_DAYS = "days of sales"


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

    async def sales(self, period: SalesPeriod, *, fresh: bool = False) -> SalesReport:
        """Completed orders' sales in the period, by category: its full UTC days from their
        figures (`mongoshop.models.sales`), the parts of days at its edges from the orders.

        Days never computed are computed now, in one read of their span's orders;
        stale ones (a cancellation since, or a day not over and older than
        `refresh_seconds`) are served and recomputed in the background. `fresh`
        computes the whole period from the orders now (and keeps its full days).
        """
        if period.is_empty:
            return sales_days.report(period, self.currency, [], self.clock())
        days = sales_days.full_days(period)
        if fresh or not days:
            at = self.clock()
            pieces = await self.orders.sales_by_day(period.start, period.end)
            if days:
                await self._keep_days(days, pieces, at)
            return sales_days.report(period, self.currency, pieces, at)
        stored = await self.figures.load_many([sales_days.figures_name(day) for day in days])
        by_day = {
            day: (DaySales.model_validate(found.value), found.computed_at)
            for day in days
            if (found := stored.get(sales_days.figures_name(day))) is not None
        }
        missing = [day for day in days if day not in by_day]
        if missing:
            computed, at = await self._compute_days(missing[0], missing[-1])
            by_day.update({day: (piece, at) for day, piece in computed.items()})
        now = self.clock()
        due = [
            day
            for day in days
            if (found := stored.get(sales_days.figures_name(day))) is not None
            and by_day[day][1] == found.computed_at
            and (
                found.is_stale
                or (
                    not sales_days.is_final(day, found.computed_at)
                    and now - found.computed_at >= self.refresh
                )
            )
        ]
        if due:
            first, last = due[0], due[-1]
            self.background.start(SALES_DAYS, lambda: self._compute_days(first, last))
        pieces = [piece for piece, _ in by_day.values()]
        for start, end in (
            (period.start, sales_days.start_of(days[0])),
            (sales_days.start_of(days[-1] + timedelta(days=1)), period.end),
        ):
            if start < end:
                pieces += await self.orders.sales_by_day(start, end)
        oldest = min(at for _, at in by_day.values())
        return sales_days.report(period, self.currency, pieces, oldest)

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

    async def _compute_days(self, first: date, last: date) -> tuple[dict[date, DaySales], datetime]:
        """Compute the days from `first` to `last` from their orders, and keep them."""
        at = self.clock()
        end = sales_days.start_of(last + timedelta(days=1))
        pieces = await self.orders.sales_by_day(sales_days.start_of(first), end)
        return await self._keep_days(sales_days.days_between(first, last), pieces, at), at

    async def _keep_days(
        self, days: Sequence[date], pieces: Sequence[DaySales], at: datetime
    ) -> dict[date, DaySales]:
        """Store the figures of `days` (a day without a piece sold nothing) from pieces
        computed at `at`."""
        by_name = {piece.day: piece for piece in pieces}
        kept = {day: by_name.get(day.isoformat(), DaySales(day=day.isoformat())) for day in days}
        await self.figures.save_many(
            {sales_days.figures_name(day): piece.model_dump() for day, piece in kept.items()}, at
        )
        return kept

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
