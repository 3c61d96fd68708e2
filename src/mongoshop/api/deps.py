"""Dependencies: the shop, the signed-in user, the admin.

All are ``async def`` although none awaits: FastAPI runs a plain ``def``
dependency in a thread pool, a thread hop on every request for nothing.
"""

from __future__ import annotations

from typing import Annotated

from bson import ObjectId
from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mongoshop._async.shop import AsyncShop
from mongoshop.errors import AuthenticationFailed, PermissionDenied
from mongoshop.models.common import MAX_PAGE_SIZE, OBJECT_ID_PATTERN, PageRequest
from mongoshop.models.users import UserInDB
from mongoshop.models.wallet import IdempotencyKey

NOT_SIGNED_IN = "not signed in: send Authorization: Bearer <access_token>"

_bearer = HTTPBearer(auto_error=False, description="The access_token from POST /auth/login")


async def get_shop(request: Request) -> AsyncShop:
    shop: AsyncShop = request.app.state.shop
    return shop


ShopDep = Annotated[AsyncShop, Depends(get_shop)]


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if credentials is None or not credentials.credentials:
        raise AuthenticationFailed(NOT_SIGNED_IN)
    return credentials.credentials


BearerToken = Annotated[str, Depends(bearer_token)]


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> UserInDB:
    # Flat on purpose: this runs on every authenticated request, and each nested
    # dependency costs FastAPI a resolution (about 4% of throughput each, measured).
    shop: AsyncShop = request.app.state.shop
    if credentials is None or not credentials.credentials:
        raise AuthenticationFailed(NOT_SIGNED_IN)
    return await shop.auth.user_for_token(credentials.credentials)


CurrentUser = Annotated[UserInDB, Depends(current_user)]


async def admin_user(user: CurrentUser) -> UserInDB:
    if not user.is_admin:
        raise PermissionDenied("this needs the admin role")
    return user


AdminUser = Annotated[UserInDB, Depends(admin_user)]


async def page_request(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
) -> PageRequest:
    return PageRequest(page=page, page_size=page_size)


Paging = Annotated[PageRequest, Depends(page_request)]


async def keyset_page_request(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    after: Annotated[
        str | None,
        Query(
            pattern=OBJECT_ID_PATTERN,
            description="The page after this id (the previous page's `next_after`); `page`"
            " is then ignored. Costs the page at any depth, where `page` reads every item"
            " before it.",
        ),
    ] = None,
) -> PageRequest:
    return PageRequest(
        page=page, page_size=page_size, after=None if after is None else ObjectId(after)
    )


KeysetPaging = Annotated[PageRequest, Depends(keyset_page_request)]
"""Paging by number or, for the long histories (orders, ledger), after an id."""


async def idempotency_key(
    key: Annotated[
        IdempotencyKey | None,
        Header(
            alias="Idempotency-Key",
            description="Send the same key to retry safely: the operation happens once.",
        ),
    ] = None,
) -> str | None:
    return key


IdempotencyKeyHeader = Annotated[str | None, Depends(idempotency_key)]
