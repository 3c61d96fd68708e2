"""Clock, batching, demo data and error mapping."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
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
from mongoshop.iterables import batched, prefetched
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


def test_prefetched_keeps_order_and_stays_a_bounded_distance_ahead() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for n in range(20):
            produced.append(n)
            yield n

    seen = []
    for item in prefetched(source(), ahead=2):
        time.sleep(0.01)  # the producer has time to run ahead, as far as it may
        # The consumer holds `item`; at most `ahead` more wait, one more is being made.
        assert len(produced) - (item + 1) <= 3
        seen.append(item)
    assert seen == list(range(20))
    with pytest.raises(ValueError, match="at least 1"):
        list(prefetched([1], 0))


def test_prefetched_raises_the_producers_error_where_it_happened() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise KeyError("bad record")

    items = prefetched(source())
    assert next(items) == 1
    assert next(items) == 2
    with pytest.raises(KeyError, match="bad record"):
        next(items)


def test_a_consumer_that_stops_early_stops_the_producer() -> None:
    produced: list[int] = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    for item in prefetched(endless(), ahead=1):
        if item == 3:
            break
    time.sleep(0.3)
    stopped_at = len(produced)
    time.sleep(0.3)
    assert len(produced) == stopped_at <= 6
    assert not [t for t in threading.enumerate() if t.name == "prefetch"]


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
