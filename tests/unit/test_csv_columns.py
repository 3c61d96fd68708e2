"""A CSV import names its columns: a missing one and an unknown one are both refused,
before any product is read (an unknown column was ignored: `quantiy` imported every
product out of stock)."""

from __future__ import annotations

import io

import pytest

from mongoshop.importing import CSV_COLUMNS, Accepted, read_products

ROW = "Mug,Blue,kitchen,1250,EUR,ceramic,5,4.5,10\n"


def read(text: str) -> list[object]:
    return list(read_products(io.StringIO(text), "csv"))


def test_every_listed_column_is_read() -> None:
    (parsed,) = read(",".join(CSV_COLUMNS) + "\n" + ROW)
    assert isinstance(parsed, Accepted)
    assert parsed.product.inventory.quantity == 5


def test_a_misspelled_column_is_refused_with_the_right_names() -> None:
    header = ",".join(CSV_COLUMNS).replace("quantity", "quantiy")
    with pytest.raises(ValueError, match="unknown column") as refused:
        read(header + "\n" + ROW)
    assert "'quantiy'" in str(refused.value)
    assert "quantity" in str(refused.value)  # the list of the right ones


def test_a_hostile_column_name_is_shown_printable() -> None:
    header = ",".join(CSV_COLUMNS) + ",\x1b[31mred\x07"
    with pytest.raises(ValueError, match="unknown column") as refused:
        read(header + "\n" + ROW.rstrip("\n") + ",x\n")
    assert "\x1b" not in str(refused.value)
    assert "\x07" not in str(refused.value)


def test_a_missing_column_is_refused() -> None:
    with pytest.raises(ValueError, match="lacks column"):
        read("name,category,price_amount\nMug,kitchen,1\n")
