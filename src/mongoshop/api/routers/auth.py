"""Registration, sign-in and sign-out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from mongoshop.api.deps import BearerToken, CurrentUser, ShopDep
from mongoshop.api.responses import responses
from mongoshop.api.routing import SingleValuedQueryRoute
from mongoshop.models.tokens import IssuedToken
from mongoshop.models.users import Credentials, UserCreate, UserPublic

router = APIRouter(prefix="/auth", tags=["auth"], route_class=SingleValuedQueryRoute)


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=responses(409, 422),
)
async def register(body: UserCreate, shop: ShopDep) -> UserPublic:
    """Create an account with the `user` role; a taken e-mail is 409."""
    return UserPublic.of(await shop.users.register(body))


@router.post("/login", responses=responses(401, 403, 422, 429))
async def login(body: Credentials, request: Request, shop: ShopDep) -> IssuedToken:
    """Exchange e-mail and password for a bearer token.

    Repeated failures for one e-mail or from one client address are refused
    with 429 and a `Retry-After` for the rest of the window.
    """
    client = request.client.host if request.client else None
    return await shop.auth.login(body.email, body.password, client)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401))
async def logout(user: CurrentUser, token: BearerToken, shop: ShopDep) -> Response:
    """Revoke the token used for this request."""
    await shop.auth.logout(token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
