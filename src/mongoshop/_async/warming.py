"""The common broad listings, computed before anyone asks (the API, at start and then
now and then): each category's first page of the catalog and the catalog's own, the
admin's first page of users and of everyone's orders.

Each goes through its service, so it lands in the API's listing caches exactly
as a visitor's request would: a page still current costs a read of its
documents by ``_id``; one dropped by a change is computed again (in the
background, its last page served meanwhile: `services.caching`). So the first
visitor of a large shop, and the first after a change, is served at once.
"""

from __future__ import annotations

import logging

from mongoshop._async.shop import AsyncShop
from mongoshop.models.common import PageRequest
from mongoshop.models.products import ProductQuery
from mongoshop.models.users import Role, UserFilter

logger = logging.getLogger(__name__)

WARM_CATEGORIES = 50
"""At most this many categories' first pages are kept warm, the largest first."""
WARM_SECONDS = 30.0
"""How often the API checks that the common listings are still computed."""


async def warm_listings(shop: AsyncShop) -> int:
    """Compute (or confirm) the common listings' first pages; how many were visited."""
    first = PageRequest()
    categories = (await shop.analytics.categories())[:WARM_CATEGORIES]
    for category in [None, *categories]:
        await shop.catalog.search(ProductQuery(category=category), first)
    await shop.users.list_page(UserFilter(), first)
    visited = len(categories) + 2
    admins = await shop.users.find_by_role(Role.ADMIN, limit=1)
    if admins:  # everyone's orders: the same pages for every admin
        await shop.orders.list_for(admins[0], first)
        visited += 1
    return visited
