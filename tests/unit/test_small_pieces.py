"""Clock, batching, demo data and error mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mongoshop.api.errors import describe_validation, status_for
from mongoshop.clock import start_of_month, utcnow
from mongoshop.demo import demo_user_fields
from mongoshop.errors import (
    AccountDisabled,
    AuthenticationFailed,
    DatabaseUnavailable,
    DuplicateEmail,
    InvalidId,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from mongoshop.iterables import batched
from mongoshop.models.users import UserCreate


def test_utcnow_is_aware_and_at_millisecond_precision() -> None:
    now = utcnow()
    assert now.tzinfo is UTC
    assert now.microsecond % 1000 == 0


def test_start_of_month_is_midnight_utc_on_the_first() -> None:
    paris_evening = datetime(2026, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    # 00:30 in UTC+2 on 1 March is still February in UTC.
    assert start_of_month(paris_evening) == datetime(2026, 2, 1, tzinfo=UTC)


def test_batched_yields_bounded_batches() -> None:
    assert list(batched(range(5), 2)) == [(0, 1), (2, 3), (4,)]
    assert list(batched([], 3)) == []
    with pytest.raises(ValueError, match="at least 1"):
        list(batched([1], 0))


def test_demo_data_is_deterministic_valid_and_unique() -> None:
    first = list(demo_user_fields(300, seed=3))
    assert first == list(demo_user_fields(300, seed=3))
    assert first != list(demo_user_fields(300, seed=4))
    assert len({user["email"] for user in first}) == 300
    for user in first[:50]:
        UserCreate(**user, password="demo-password")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("x"), 404),
        (InvalidId("x"), 404),
        (DuplicateEmail("x"), 409),
        (ValidationFailed("x"), 422),
        (AuthenticationFailed("x"), 401),
        (AccountDisabled("x"), 403),
        (PermissionDenied("x"), 403),
        (DatabaseUnavailable("x"), 503),
    ],
)
def test_each_domain_error_has_one_http_status(error: Exception, status: int) -> None:
    assert status_for(error) == status  # type: ignore[arg-type]


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
