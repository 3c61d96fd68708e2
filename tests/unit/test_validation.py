"""Validation helpers: error sentences, the collector paused for a batch."""

from __future__ import annotations

import pytest

from mongoshop.http.errors import describe_validation


def test_the_collector_is_paused_for_a_batch_and_restored_even_on_error() -> None:
    import gc

    from mongoshop.validation import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause does not re-enable it early
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_validation_errors_are_described_in_one_readable_line() -> None:
    text = describe_validation(
        [
            {"loc": ("body", "age"), "msg": "Input should be greater than or equal to 18"},
            {
                "loc": ("body", "$set"),
                "msg": "Extra inputs are not permitted",
                "type": "extra_forbidden",
            },
        ]
    )
    assert text == "body.age: Input should be greater than or equal to 18; body.$set: unknown field"
