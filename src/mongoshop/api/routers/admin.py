"""Admin dashboards."""

from __future__ import annotations

from fastapi import APIRouter

from mongoshop.api.deps import AdminUser, ShopDep
from mongoshop.api.responses import responses
from mongoshop.models.users import UserStats

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/stats/users", responses=responses(401, 403))
async def user_stats(admin: AdminUser, shop: ShopDep) -> UserStats:
    """Totals, statuses, sign-ups this month (UTC) and the top 10 by logins."""
    return await shop.users.statistics()
