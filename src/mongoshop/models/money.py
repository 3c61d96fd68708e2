"""Money: integer minor units and a currency code, never binary floating point."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from mongoshop.errors import ValidationFailed
from mongoshop.models.common import WholeNumber

MAX_AMOUNT = 10**12
"""A bound far above any real price or balance, so sums stay exact in int64."""

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])]
Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT, strict=True), WholeNumber]
PositiveAmount = Annotated[int, Field(gt=0, le=MAX_AMOUNT, strict=True), WholeNumber]


class Money(BaseModel):
    """An amount in minor units (cents for EUR) and its ISO 4217 code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: Amount
    currency: Currency


def format_money(amount: int, currency: str) -> str:
    """Minor units as text: 123456 EUR → "1234.56 EUR" (no float involved)."""
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    return f"{sign}{units}.{cents:02d} {currency}"


def require_currency(currency: str, accepted: str, what: str = "amounts") -> None:
    """The shop has one currency (`MONGOSHOP_CURRENCY`): an amount in another is invalid
    input, refused with the request that carries it (422), or, in a file import, with
    its line. The one place this rule is written."""
    if currency != accepted:
        raise ValidationFailed(f"{what} must be in {accepted}, not {currency}")
