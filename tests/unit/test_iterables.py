"""Batches and prefetching: bounded, ordered, errors where they happened."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from mongoshop.iterables import batched, prefetched


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
