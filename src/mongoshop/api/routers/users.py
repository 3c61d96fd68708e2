"""Users: one's own profile, and the admin's view of everyone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from mongoshop.api.deps import AdminUser, CurrentUser, Paging, ShopDep
from mongoshop.api.responses import responses
from mongoshop.api.routing import SingleValuedQueryRoute
from mongoshop.models.common import MAX_PAGE_SIZE, Page
from mongoshop.models.users import (
    BulkStatusResult,
    BulkStatusUpdate,
    PasswordReset,
    Role,
    UserFilter,
    UserPublic,
    UserStatus,
    UserUpdate,
)

router = APIRouter(prefix="/users", tags=["users"], route_class=SingleValuedQueryRoute)

UserId = Annotated[str, Path(description="The user's id (24 hexadecimal characters)")]


@router.get("/me", responses=responses(401))
async def read_me(user: CurrentUser) -> UserPublic:
    return UserPublic.of(user)


@router.get("", responses=responses(401, 403, 422))
async def list_users(
    admin: AdminUser,
    shop: ShopDep,
    paging: Paging,
    q: Annotated[
        str | None, Query(max_length=200, description="Words of the name or e-mail")
    ] = None,
    status: UserStatus | None = None,
    role: Role | None = None,
) -> Page[UserPublic]:
    """Admin: users newest first, filtered by words, status and role."""
    found = await shop.users.list_page(UserFilter(q=q, status=status, role=role), paging)
    return found.map(UserPublic.of)


@router.get("/search/{query}", responses=responses(401, 403, 422))
async def search_users(
    admin: AdminUser,
    shop: ShopDep,
    query: Annotated[str, Path(max_length=200)],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
) -> list[UserPublic]:
    """Admin: users with a word of the name or e-mail starting with each word of the query."""
    return [UserPublic.of(user) for user in await shop.users.search(query, limit=limit)]


@router.post("/bulk-status", responses=responses(401, 403, 404, 422))
async def bulk_status(admin: AdminUser, shop: ShopDep, body: BulkStatusUpdate) -> BulkStatusResult:
    """Admin: set the status of many users; answers how many changed."""
    modified = await shop.users.bulk_update_status(body.ids, body.status)
    return BulkStatusResult(modified=modified)


@router.get("/{user_id}", responses=responses(401, 404))
async def read_user(user: CurrentUser, shop: ShopDep, user_id: UserId) -> UserPublic:
    """Oneself, or anyone for an admin; anyone else gets 404."""
    return UserPublic.of(await shop.users.get_visible_to(user, user_id))


@router.patch("/{user_id}", responses=responses(401, 403, 404, 422, 429))
async def update_user(
    user: CurrentUser, shop: ShopDep, user_id: UserId, body: UserUpdate
) -> UserPublic:
    """Change name, age, preferences or one's own password (with `current_password`: a
    wrong one is 403, and counts as a failed sign-in of the account: 429 past the
    sign-in limit); admins may also change status and roles. Changing the password
    ends every session of the account, the one that made the change included: sign
    in again with the new password."""
    return UserPublic.of(await shop.users.update(user, user_id, body))


@router.post("/{user_id}/password-reset", responses=responses(401, 403, 404, 422))
async def reset_password(
    admin: AdminUser, shop: ShopDep, user_id: UserId, body: PasswordReset
) -> UserPublic:
    """Admin: set a user's password; every session of that user ends at once."""
    return UserPublic.of(await shop.users.reset_password(user_id, body.new_password))


@router.post("/{user_id}/suspend", responses=responses(401, 403, 404))
async def suspend_user(admin: AdminUser, shop: ShopDep, user_id: UserId) -> UserPublic:
    """Admin: suspend an account and end its sessions."""
    return UserPublic.of(await shop.users.suspend(user_id))
