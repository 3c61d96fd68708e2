"""The catalog: products, their search, stock and prices."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from bson import ObjectId

from mongoshop._async.compat import Background
from mongoshop._async.repositories.products import AsyncProductRepository
from mongoshop._async.services.caching import cached_page, read_through
from mongoshop.cache import Listings, ReadCache
from mongoshop.clock import Clock, utcnow
from mongoshop.errors import InvalidId, ValidationFailed
from mongoshop.iterables import batched
from mongoshop.models.common import Page, PageRequest, parse_object_id
from mongoshop.models.money import Money, require_currency
from mongoshop.models.products import (
    BulkItemError,
    BulkPriceResult,
    ImportResult,
    PriceUpdate,
    ProductCreate,
    ProductInDB,
    ProductQuery,
    ProductUpdate,
    UpsertField,
)


class AsyncCatalogService:
    def __init__(
        self,
        products: AsyncProductRepository,
        currency: str,
        *,
        cache: ReadCache[ProductInDB] | None = None,
        listings: Listings | None = None,
        background: Background | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.clock = clock
        self.products = products
        self.currency = currency
        self.cache = cache
        self.listings = listings
        self.background = background

    def _listings_changed(self) -> None:
        """Drop the cached catalog pages after a change made here (the stream does it too,
        a moment later, for every process; this makes the change visible at once here)."""
        if self.listings is not None:
            self.listings.clear()

    def _check_currency(self, price: Money, where: str = "") -> None:
        require_currency(price.currency, self.currency, f"{where}prices")

    async def create(self, data: ProductCreate) -> ProductInDB:
        self._check_currency(data.price)
        created = await self.products.add(data, self.clock())
        self._listings_changed()
        return created

    async def add_many(
        self,
        products: Iterable[tuple[ObjectId, ProductCreate]],
        *,
        batch_size: int = 1000,
        on_batch: Callable[[int], None] | None = None,
    ) -> tuple[int, int]:
        """Insert (id, product) pairs in unordered batches; existing ids are skipped.

        Returns (inserted, skipped). Memory is bounded by `batch_size`.
        """
        inserted = skipped = 0
        for batch in batched(products, batch_size):
            for _, data in batch:
                self._check_currency(data.price)
            added, duplicates = await self.products.add_new(batch, self.clock())
            self._listings_changed()
            inserted += added
            skipped += duplicates
            if on_batch is not None:
                on_batch(len(batch))
        return inserted, skipped

    async def import_batch(
        self, items: Sequence[tuple[int, ProductCreate]], *, upsert_on: UpsertField | None = None
    ) -> ImportResult:
        """Write one batch of validated products with one unordered bulk write.

        `items` are (line number, product). A product the database refuses is
        reported with its line, never fatal to the others. With `upsert_on`, a
        product whose field matches an existing one updates it instead.
        """
        result = ImportResult()
        accepted: list[tuple[int, ProductCreate]] = []
        now = self.clock()
        for line, product in items:
            try:
                self._check_currency(product.price, "price.currency: ")
            except ValidationFailed as exc:
                result.rejected.append((line, exc.detail))
                continue
            accepted.append((line, product))
        if not accepted:
            return result
        products = [product for _, product in accepted]
        if upsert_on is None:
            inserted, errors = await self.products.insert_unordered(products, now)
            result.inserted = inserted
        else:
            inserted, updated, errors = await self.products.upsert_unordered(
                products, upsert_on, now
            )
            result.inserted, result.updated = inserted, updated
        self._listings_changed()
        result.rejected.extend((accepted[index][0], reason) for index, reason in errors)
        result.rejected.sort()
        return result

    async def get(self, product_id: str) -> ProductInDB:
        target = parse_object_id(product_id)
        return await read_through(self.cache, target, lambda: self.products.get(target))

    async def update(self, product_id: str, changes: ProductUpdate) -> ProductInDB:
        """Apply a partial update; an update that changes nothing is still a success."""
        target = parse_object_id(product_id)
        if changes.price is not None:
            self._check_currency(changes.price)
        current = await self.products.get(target)
        if not changes.model_fields_set:
            return current
        await self.products.apply(current, changes, self.clock())
        if self.cache is not None:
            self.cache.invalidate(target)
        self._listings_changed()
        return await self.products.get(target)

    async def search(self, query: ProductQuery, paging: PageRequest) -> Page[ProductInDB]:
        """A page of the catalog; a page asked for again is served by its cached ids."""
        items, total = await cached_page(
            self.listings,
            (query.model_dump_json(), paging.skip, paging.page_size),
            self.products,
            lambda: self.products.search(query, skip=paging.skip, limit=paging.page_size),
            self.background,
        )
        return Page[ProductInDB].build(items, total, paging.page, paging.page_size)

    async def change_inventory(self, product_id: str, change: int) -> ProductInDB:
        """Add (positive) or take (negative) stock; taking more than there is is `OutOfStock`."""
        target = parse_object_id(product_id)
        product = await self.products.change_stock(target, change, self.clock())
        if self.cache is not None:
            self.cache.invalidate(target)
        return product

    async def bulk_update_prices(self, updates: Sequence[PriceUpdate]) -> BulkPriceResult:
        """Set many prices in one unordered bulk write; bad or unknown ids are reported, not
        fatal. A price in another currency refuses the whole request, as everywhere."""
        for index, update in enumerate(updates):
            self._check_currency(update.new_price, f"body.{index}.new_price.currency: ")
        errors: list[BulkItemError] = []
        valid = []
        for index, update in enumerate(updates):
            try:
                product_id = parse_object_id(update.product_id)
            except InvalidId as exc:
                errors.append(
                    BulkItemError(index=index, product_id=update.product_id, error=exc.detail)
                )
                continue
            valid.append((index, product_id, update.new_price))
        seen = Counter(product_id for _, product_id, _ in valid)
        repeated = sorted(str(product_id) for product_id, times in seen.items() if times > 1)
        if repeated:
            # An unordered bulk write applies them in no defined order: which price wins?
            raise ValidationFailed(
                "each product may appear once; more than once: " + ", ".join(repeated)
            )
        matched, modified, unknown = await self.products.bulk_set_prices(
            [(product_id, price.amount, price.currency) for _, product_id, price in valid],
            self.clock(),
        )
        if self.cache is not None:
            for _, product_id, _ in valid:
                self.cache.invalidate(product_id)
        self._listings_changed()
        errors.extend(
            BulkItemError(index=index, product_id=str(product_id), error="product not found")
            for index, product_id, _ in valid
            if product_id in unknown
        )
        errors.sort(key=lambda error: error.index)
        return BulkPriceResult(matched=matched, modified=modified, errors=errors)
