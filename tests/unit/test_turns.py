"""Turns on hot documents (`KeyedLocks`), clean-ups outside the deadline (`run_detached`),
the transaction budget and its back-off: both faces, without a database."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from mongoshop import deadlines
from mongoshop._async import compat as async_compat
from mongoshop._async.transactions import (
    ABORT_RESERVE_SECONDS,
    RETRY_CAP_SECONDS,
    AsyncTransactions,
    backoff,
)
from mongoshop._sync import compat as sync_compat
from mongoshop.errors import Busy
from mongoshop.turns import LockTable


async def test_writers_of_one_key_take_turns_in_arrival_order() -> None:
    locks = async_compat.KeyedLocks()
    order: list[str] = []

    async def writer(name: str, hold: float) -> None:
        async with locks.holding(["products:1"], None):
            order.append(f"{name} in")
            await asyncio.sleep(hold)
            order.append(f"{name} out")

    await asyncio.gather(writer("a", 0.05), writer("b", 0.0), writer("c", 0.0))
    assert order == ["a in", "a out", "b in", "b out", "c in", "c out"]
    assert len(locks) == 0


async def test_writers_of_other_keys_do_not_wait() -> None:
    locks = async_compat.KeyedLocks()
    async with locks.holding(["products:1"], None), locks.holding(["products:2"], 0.1):
        assert len(locks) == 2
    assert len(locks) == 0


async def test_keys_are_taken_in_one_order_so_crossed_pairs_never_deadlock() -> None:
    locks = async_compat.KeyedLocks()

    async def transfer(first: str, second: str) -> None:
        for _ in range(50):
            async with locks.holding([first, second], 2.0):
                await asyncio.sleep(0)

    await asyncio.wait_for(
        asyncio.gather(transfer("accounts:a", "accounts:b"), transfer("accounts:b", "accounts:a")),
        10,
    )
    assert len(locks) == 0


async def test_a_turn_that_does_not_come_in_time_is_busy_and_leaves_no_key_behind() -> None:
    locks = async_compat.KeyedLocks()
    async with locks.holding(["accounts:a"], None):
        started = time.monotonic()
        with pytest.raises(Busy):
            async with locks.holding(["accounts:b", "accounts:a"], 0.1):
                pytest.fail("the turn came while the key was held")
        assert time.monotonic() - started < 1.0
        assert len(locks) == 1  # only the holder's key: the waiter's are gone
    assert len(locks) == 0


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    locks = async_compat.KeyedLocks()
    async with locks.holding(["k"], None):
        waiter = asyncio.create_task(locks.holding(["k"], None).__aenter__())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert len(locks) == 0


def test_the_sync_face_takes_turns_between_threads() -> None:
    locks = sync_compat.KeyedLocks()
    inside = 0
    most = 0
    guard = threading.Lock()

    def writer() -> None:
        nonlocal inside, most
        for _ in range(20):
            with locks.holding(["products:1", "accounts:2"], 5.0):
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.001)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1
    assert len(locks) == 0


def test_the_sync_face_is_busy_when_the_turn_does_not_come() -> None:
    locks = sync_compat.KeyedLocks()
    refused: list[Busy] = []

    def other() -> None:
        try:
            with locks.holding(["k"], 0.05):
                pytest.fail("the turn came while the key was held")
        except Busy as exc:
            refused.append(exc)

    with locks.holding(["k"], None):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert len(refused) == 1
    assert len(locks) == 0


async def test_a_detached_clean_up_runs_outside_the_deadline_and_outlives_a_cancellation() -> None:
    seen: list[float | None] = []
    finished = asyncio.Event()

    async def clean() -> None:
        seen.append(deadlines.remaining())
        await asyncio.sleep(0.1)
        finished.set()

    async def request() -> None:
        with deadlines.deadline(0.01):
            await asyncio.sleep(0.02)  # the deadline has passed
            await async_compat.run_detached(clean)

    task = asyncio.create_task(request())
    await asyncio.sleep(0.05)  # the clean-up is under way
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished.is_set(), "the cancelled request did not wait for its clean-up"
    assert seen == [None]


def test_the_sync_clean_up_runs_outside_the_deadline() -> None:
    seen: list[float | None] = []
    with deadlines.deadline(0.01):
        time.sleep(0.02)
        sync_compat.run_detached(lambda: seen.append(deadlines.remaining()))
        assert deadlines.remaining() is not None
    assert seen == [None]


def test_nested_deadlines_keep_the_earlier_end() -> None:
    assert deadlines.remaining() is None
    with deadlines.deadline(1.0):
        with deadlines.deadline(10.0):
            left = deadlines.remaining()
            assert left is not None
            assert left <= 1.0
        with deadlines.deadline(None):
            assert deadlines.remaining() is not None
    assert deadlines.remaining() is None


def test_the_budget_leaves_the_abort_its_share_of_the_deadline() -> None:
    transactions = AsyncTransactions(None, timeout=10.0)  # type: ignore[arg-type]
    assert transactions.budget() == 10.0
    with deadlines.deadline(5.0):
        budget = transactions.budget()
        assert budget is not None
        assert 5.0 - ABORT_RESERVE_SECONDS - 0.1 < budget <= 5.0 - ABORT_RESERVE_SECONDS
    with deadlines.deadline(3.0):
        assert AsyncTransactions(None, timeout=1.0).budget() == 1.0  # type: ignore[arg-type]


async def test_no_transaction_starts_when_the_deadline_leaves_no_room_for_it() -> None:
    transactions = AsyncTransactions(None, timeout=10.0)  # type: ignore[arg-type]

    async def body(session: object) -> None:
        pytest.fail("the transaction started without time to abort it")

    with deadlines.deadline(ABORT_RESERVE_SECONDS / 2), pytest.raises(Busy):
        await transactions.run(body)  # type: ignore[arg-type]


async def test_a_turn_that_comes_as_the_budget_runs_out_is_busy_not_an_error() -> None:
    """Seen as a 500 in the flash sale: the turn came, no time was left, and a negative
    timeout reached PyMongo (`ValueError`)."""
    import contextlib

    transactions = AsyncTransactions(None, timeout=0.05)  # type: ignore[arg-type]

    class LateTurn:
        @contextlib.asynccontextmanager
        async def holding(self, keys: object, wait: float | None):  # type: ignore[no-untyped-def]
            await asyncio.sleep((wait or 0) + 0.02)  # granted just after the budget ended
            yield

    transactions.locks = LateTurn()  # type: ignore[assignment]

    async def body(session: object) -> None:
        pytest.fail("the transaction started with no time left")

    with pytest.raises(Busy):
        await transactions.run(body, keys=["products:1"])  # type: ignore[arg-type]


def test_the_back_off_is_jittered_and_capped() -> None:
    first = [backoff(1) for _ in range(200)]
    assert all(0 <= pause <= 0.005 for pause in first)
    assert len(set(first)) > 100, "no jitter"
    late = [backoff(30) for _ in range(200)]
    assert all(0 <= pause <= RETRY_CAP_SECONDS for pause in late)
    assert max(late) > RETRY_CAP_SECONDS / 2


def test_the_lock_table_keeps_a_key_only_while_someone_uses_it() -> None:
    table: LockTable[object] = LockTable(object)
    first = table.join(["a", "b"])
    second = table.join(["b"])
    assert second[0] is first[1]  # one lock per key, shared by its users
    table.leave(["a", "b"])
    assert len(table) == 1  # "b" still has a user
    assert table.join(["b"])[0] is first[1]
    table.leave(["b"])
    table.leave(["b"])
    assert len(table) == 0
    assert table.join(["b"])[0] is not first[1]  # a fresh lock once it was forgotten
