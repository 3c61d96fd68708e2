"""Registration, sign-in and sign-out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from mongoshop.api.deps import BearerToken, CurrentUser, ShopDep
from mongoshop.api.responses import responses
from mongoshop.api.routing import SingleValuedQueryRoute
from mongoshop.models.tokens import IssuedToken
from mongoshop.models.users import (
    Credentials,
    EmailVerification,
    RegistrationAccepted,
    UserCreate,
    UserPublic,
)

router = APIRouter(prefix="/auth", tags=["auth"], route_class=SingleValuedQueryRoute)


@router.post(
    "/register",
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(422, 429),
)
async def register(body: UserCreate, request: Request, shop: ShopDep) -> RegistrationAccepted:
    """Ask for an account: the same answer whether the address is new or already taken.

    A new address gets a code to confirm it (`POST /auth/verify`); the owner of a
    taken one is told someone tried. An address not confirmed yet is registered
    again by this (new password and name, a new code; the earlier ones stop working).
    Until confirmed, an account cannot sign in. Throttled per address and per client
    (429).
    """
    client = request.client.host if request.client else None
    await shop.users.request_registration(body, client)
    return RegistrationAccepted()


@router.post("/verify", responses=responses(404, 422, 429))
async def verify(body: EmailVerification, request: Request, shop: ShopDep) -> UserPublic:
    """Confirm an address with the newest code mailed to it; the code works once (404 if
    unknown, used, replaced by a newer one or expired). Answers the account, now
    confirmed. A client's wrong codes count like failed sign-ins: past the limit, 429
    with a `Retry-After`."""
    client = request.client.host if request.client else None
    return UserPublic.of(await shop.users.verify_email(body.token, client))


@router.post("/login", responses=responses(401, 403, 422, 429))
async def login(body: Credentials, request: Request, shop: ShopDep) -> IssuedToken:
    """Exchange e-mail and password for a bearer token (401 for a wrong one, and for an
    account whose address is not confirmed yet: the same answer).

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
