"""Money: minor units, formatted without floats."""

from __future__ import annotations

from mongoshop.models.money import format_money


def test_money_is_formatted_from_minor_units_without_floats() -> None:
    assert format_money(123456, "EUR") == "1234.56 EUR"
    assert format_money(5, "EUR") == "0.05 EUR"
    assert format_money(-250, "USD") == "-2.50 USD"
