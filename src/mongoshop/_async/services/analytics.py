"""Dashboards: the product dashboard and the sales analytics."""

from __future__ import annotations

from mongoshop._async.repositories.orders import AsyncOrderRepository
from mongoshop._async.repositories.products import AsyncProductRepository
from mongoshop.models.orders import SalesPeriod, SalesReport
from mongoshop.models.products import ProductStats


class AsyncAnalyticsService:
    def __init__(
        self, products: AsyncProductRepository, orders: AsyncOrderRepository, currency: str
    ) -> None:
        self.products = products
        self.orders = orders
        self.currency = currency

    async def product_dashboard(self) -> ProductStats:
        return await self.products.statistics()

    async def sales(self, period: SalesPeriod) -> SalesReport:
        return await self.orders.sales_report(period, self.currency)
