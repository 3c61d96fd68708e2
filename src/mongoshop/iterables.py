"""Iteration helpers (``itertools.batched`` arrives only in Python 3.12)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[tuple[T, ...]]:
    """Consecutive tuples of `size` items (the last may be shorter); memory bounded by `size`."""
    if size < 1:
        raise ValueError("size must be at least 1")
    iterator = iter(items)
    while batch := tuple(islice(iterator, size)):
        yield batch


_DONE = object()


def prefetched(items: Iterable[T], ahead: int = 1) -> Iterator[T]:
    """`items`, produced by a background thread up to `ahead` items ahead of the consumer.

    For a pipeline whose steps wait on different things: while the consumer
    waits for the database to write batch N (the driver releases the GIL), the
    thread parses and validates batch N+1. Memory stays bounded: at most
    `ahead` items are waiting, plus the one being produced. An exception in
    `items` is raised in the consumer, at the point it would have come; a
    consumer that stops early stops the thread at its next item.
    """
    if ahead < 1:
        raise ValueError("ahead must be at least 1")
    slots: queue.Queue[object] = queue.Queue(maxsize=ahead)
    abandoned = threading.Event()

    def put(item: object) -> bool:
        while not abandoned.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failure(exc))
            return
        put(_DONE)

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        abandoned.set()
        # A producer blocked in `items` (a pipe with nothing to read) is a daemon thread:
        # it is not waited for longer than this.
        thread.join(timeout=1.0)


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error
