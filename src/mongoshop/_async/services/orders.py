"""Orders: stock and money taken in one transaction, or not at all."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from contextlib import suppress
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from mongoshop._async.compat import Background
from mongoshop._async.repositories.figures import AsyncFigureRepository
from mongoshop._async.repositories.orders import AsyncOrderRepository
from mongoshop._async.repositories.products import AsyncProductRepository
from mongoshop._async.repositories.users import AsyncUserRepository
from mongoshop._async.services.caching import cached_page, cached_total
from mongoshop._async.services.idempotency import run_once
from mongoshop._async.services.wallet import AsyncWalletService, require_verified
from mongoshop._async.transactions import AsyncTransactions
from mongoshop.cache import Listings, ReadCache
from mongoshop.clock import Clock, utcnow
from mongoshop.errors import CancellationWindowClosed, Conflict, NotFound, ValidationFailed
from mongoshop.fingerprints import fingerprint
from mongoshop.models.common import Page, PageRequest, parse_object_id
from mongoshop.models.money import require_currency
from mongoshop.models.orders import (
    MAX_RECENT_ORDERS,
    OrderInDB,
    OrderItem,
    OrderPublic,
    OrderRequest,
    OrderStatus,
    RecentOrder,
)
from mongoshop.models.products import ProductInDB
from mongoshop.models.sales import day_of, figures_name, needs_mark
from mongoshop.models.users import UserInDB
from mongoshop.models.wallet import EntryKind
from mongoshop.observability.tracing import carrier


class AsyncOrderService:
    def __init__(
        self,
        orders: AsyncOrderRepository,
        products: AsyncProductRepository,
        wallet: AsyncWalletService,
        transactions: AsyncTransactions,
        currency: str,
        *,
        users: AsyncUserRepository,
        figures: AsyncFigureRepository | None = None,
        product_cache: ReadCache[ProductInDB] | None = None,
        listings: Listings | None = None,
        background: Background | None = None,
        cancel_window: timedelta = timedelta(days=1),
        clock: Clock = utcnow,
    ) -> None:
        """`listings`: everyone's orders by page, and their total (the API's, evicted by
        the orders' change stream; see `mongoshop.cache.Listings`); `figures`: where the
        days of sales are kept, told when a change reaches a day already over."""
        self.clock = clock
        self.figures = figures
        self.orders = orders
        self.users = users
        self.products = products
        self.wallet = wallet
        self.transactions = transactions
        self.currency = currency
        self.product_cache = product_cache
        self.listings = listings
        self.background = background
        self.cancel_window = cancel_window

    def _evict(self, product_ids: Iterable[ObjectId]) -> None:
        """Drop the products whose stock changed from the read cache, once committed.

        The change stream evicts them too, but only a moment later: without this a
        buyer could read the old stock right after their own order or cancellation.
        """
        if self.product_cache is not None:
            for product_id in product_ids:
                self.product_cache.invalidate(product_id)

    async def place(
        self,
        user: UserInDB,
        request: OrderRequest,
        idempotency_key: str | None = None,
        *,
        placed_at: datetime | None = None,
    ) -> tuple[OrderInDB, bool]:
        """Take the stock, snapshot the prices, debit the wallet and record the order, at once.

        Any refusal (out of stock, insufficient funds, unknown product) aborts
        the transaction: then nothing at all has changed. Returns (order, was
        it a replay of an earlier request with the same Idempotency-Key).
        `placed_at` backdates the order; only the seed command uses it.
        """
        require_verified(user)
        trace = carrier()  # this request's: a batch may record the order in another task
        quantities: Counter[ObjectId] = Counter()
        for item in request.items:
            quantities[parse_object_id(item.product_id)] += item.quantity
        request_hash = fingerprint("order", sorted((str(k), v) for k, v in quantities.items()))
        account = await self.wallet.account_of(user)
        # Read before the transaction: inside it, each product is then taken with one
        # guarded update (`take_stock`), the shortest turn for the next buyer to wait.
        seen = {
            product.id: product for product in await self.products.find_in_order(list(quantities))
        }

        async def buy(session: AsyncClientSession) -> OrderInDB:
            now = placed_at or self.clock()
            items = []
            for product_id, quantity in quantities.items():
                if product_id not in seen:
                    raise NotFound(f"product {product_id} not found")
                product = await self.products.take_stock(
                    seen[product_id], quantity, now, session=session
                )
                require_currency(
                    product.price.currency, self.currency, f"the price of product {product_id}"
                )
                items.append(
                    OrderItem(
                        product_id=product_id,
                        name=product.name,
                        quantity=quantity,
                        unit_price=product.price.amount,
                    )
                )
            order = await self.orders.record(
                user_id=user.id,
                account_id=account.id,
                items=items,
                currency=self.currency,
                request_hash=request_hash,
                key=idempotency_key,
                at=now,
                trace=trace,
                session=session,
            )
            await self._touch_sales_day(now, session)
            await self.wallet.post(
                account.id,
                EntryKind.ORDER,
                -order.total.amount,
                now,
                reference_id=order.id,
                session=session,
            )
            return order

        placed, replayed = await run_once(
            self.transactions,
            self.orders,
            user_id=user.id,
            key=idempotency_key,
            request_hash=request_hash,
            what="order",
            body=buy,
            # Buyers of one product (a flash sale) take turns instead of conflicting, and
            # those who queue at once share one transaction.
            keys=[*map(self.products.key, quantities), self.wallet.account_key(account.id)],
            batch=self.products.key(min(quantities)),
        )
        if not replayed:
            self._evict(quantities)
            if self.listings is not None:
                self.listings.clear()  # a new order heads everyone's list
        return placed, replayed

    async def _touch_sales_day(self, created_at: datetime, session: AsyncClientSession) -> None:
        """Mark the sales figures of the order's day stale, in the change's transaction,
        when that day is over (a cancellation, or a backdated order): an order of today
        reaches today's figures when they are next refreshed, at no cost here."""
        now = self.clock()
        if self.figures is not None and needs_mark(created_at, now):
            await self.figures.mark_stale(figures_name(day_of(created_at)), now, session=session)

    async def get_visible_to(self, user: UserInDB, order_id: str) -> OrderInDB:
        """The buyer's own order, or any order for an admin; others get `NotFound`."""
        order = await self.orders.find_by_id(order_id)
        if order is None or (order.user_id != user.id and not user.is_admin):
            raise NotFound(f"order {order_id} not found")
        return order

    async def list_for(self, user: UserInDB, paging: PageRequest) -> Page[OrderInDB]:
        """The user's orders, newest first (an admin sees everyone's).

        After the order `paging.after` when it is given (keyset pagination,
        `next_after` in the page), else by page number. Everyone's orders are a
        broad listing: their pages and total are cached where the shop has
        `listings`, so paging through them counts the orders once.
        """
        owner = None if user.is_admin else user.id
        size = paging.page_size

        async def page() -> tuple[list[OrderInDB], int]:
            # One more than the page: whether there is a next one, without counting.
            items = await self.orders.page_for(
                owner, skip=paging.skip, limit=size + 1, after=paging.after
            )
            return items, 0

        async def count() -> int:
            return await self.orders.count_for(owner)

        if owner is None:
            key = (paging.after, paging.skip, size)
            items, _ = await cached_page(self.listings, key, self.orders, page, self.background)
            total = await cached_total(self.listings, "total", count, self.background)
        else:
            items, total = (await page())[0], await count()
        return Page[OrderInDB].after_lookahead(items, total, paging, lambda order: order.id)

    async def recent(self, limit: int) -> list[RecentOrder]:
        """Everyone's latest orders, newest first, each with its buyer's name and e-mail.

        Two indexed queries (the orders, then their buyers by `_id`), whatever `limit`.
        """
        if not 1 <= limit <= MAX_RECENT_ORDERS:
            raise ValidationFailed(f"limit must be between 1 and {MAX_RECENT_ORDERS}")
        orders = await self.orders.newest(limit)
        buyers = await self.users.contacts([order.user_id for order in orders])
        return [
            RecentOrder(order=OrderPublic.of(order), buyer=buyers.get(order.user_id))
            for order in orders
        ]

    async def cancel(self, user: UserInDB, order_id: str) -> OrderInDB:
        """Restock and refund in one transaction, once; the buyer or an admin may cancel.

        Only a completed order can be cancelled; cancelling it again is a conflict. A
        buyer may cancel within `cancel_window` of placing the order; an admin any time.
        """
        order = await self.get_visible_to(user, order_id)
        if not user.is_admin and self.clock() - order.created_at > self.cancel_window:
            raise CancellationWindowClosed(
                f"orders can be cancelled within {self.cancel_window} of placing them; ask the shop"
            )

        async def undo(session: AsyncClientSession) -> OrderInDB:
            now = self.clock()
            cancelled = await self.orders.mark_cancelled(order.id, now, session=session)
            if cancelled is None:
                raise Conflict(f"order {order_id} is already {OrderStatus.CANCELLED.value}")
            await self._touch_sales_day(cancelled.created_at, session)
            for item in cancelled.items:
                # The guarded path: past the stock bound the cancellation is refused whole
                # (nothing changes); a product deleted since has nothing to restock.
                with suppress(NotFound):
                    await self.products.change_stock(
                        item.product_id, item.quantity, now, session=session
                    )
            await self.wallet.post(
                cancelled.account_id,
                EntryKind.REFUND,
                cancelled.total.amount,
                now,
                reference_id=cancelled.id,
                session=session,
            )
            return cancelled

        keys = [
            self.orders.key(order.id),
            *(self.products.key(item.product_id) for item in order.items),
            self.wallet.account_key(order.account_id),
        ]
        cancelled = await self.transactions.run(undo, keys=keys)
        self._evict(item.product_id for item in cancelled.items)
        return cancelled
