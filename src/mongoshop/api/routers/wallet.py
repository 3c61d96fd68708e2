"""Wallets: one's account and ledger, transfers, and admin credits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from mongoshop.api.deps import AdminUser, CurrentUser, IdempotencyKeyHeader, KeysetPaging, ShopDep
from mongoshop.api.responses import responses
from mongoshop.api.routing import SingleValuedQueryRoute
from mongoshop.models.common import Page
from mongoshop.models.wallet import (
    AccountPublic,
    CreditRequest,
    LedgerEntryPublic,
    TransferPublic,
    TransferRequest,
)

router = APIRouter(tags=["wallet"], route_class=SingleValuedQueryRoute)

REPLAY_HEADER = "Idempotent-Replay"


@router.get("/accounts/me", responses=responses(401))
async def my_account(user: CurrentUser, shop: ShopDep) -> AccountPublic:
    return AccountPublic.of(await shop.wallet.account_of(user))


@router.get("/accounts/me/ledger", responses=responses(401, 404, 422))
async def my_ledger(
    user: CurrentUser, shop: ShopDep, paging: KeysetPaging
) -> Page[LedgerEntryPublic]:
    """The account's ledger entries, newest first."""
    found = await shop.wallet.history(user, paging)
    return found.map(LedgerEntryPublic.of)


@router.post("/accounts/{account_id}/credit", responses=responses(401, 403, 404, 409, 422))
async def credit_account(
    admin: AdminUser,
    shop: ShopDep,
    account_id: Annotated[str, Path(description="The account's id")],
    body: CreditRequest,
) -> AccountPublic:
    """Admin: deposit money into an account, with a reason recorded in its ledger."""
    return AccountPublic.of(await shop.wallet.credit(account_id, body))


@router.post(
    "/transfers",
    status_code=status.HTTP_201_CREATED,
    responses=responses(401, 403, 404, 409, 422),
)
async def transfer(
    user: CurrentUser,
    shop: ShopDep,
    body: TransferRequest,
    key: IdempotencyKeyHeader,
    response: Response,
) -> TransferPublic:
    """Move money from your account to another, in one transaction.

    With an Idempotency-Key, a retry returns the original transfer (header
    Idempotent-Replay: true) and moves nothing; the key reused for another
    request is 409.
    """
    done, replayed = await shop.wallet.transfer(user, body, key)
    response.headers[REPLAY_HEADER] = "true" if replayed else "false"
    return TransferPublic.of(done)
