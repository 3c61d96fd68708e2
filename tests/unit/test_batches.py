"""`Batches`: a lone call is served at once, a crowd in batches, nobody is forgotten."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mongoshop._async.compat import Batches


class Server:
    """Serves batches, remembering each; holds each batch until `release` is set."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.release = asyncio.Event()
        self.fail_with: Exception | None = None

    async def __call__(self, items: list[Any]) -> list[Any]:
        self.batches.append(items)
        await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return [item * 10 for item in items]


async def test_a_lone_call_is_served_at_once() -> None:
    server = Server()
    server.release.set()
    assert await Batches().submit("p", 1, server) == 10
    assert server.batches == [[1]]


async def test_calls_that_arrive_while_a_batch_runs_form_the_next_one() -> None:
    batches, server = Batches(max_size=3), Server()
    first = asyncio.create_task(batches.submit("p", 1, server))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(batches.submit("p", n, server)) for n in range(2, 7)]
    await asyncio.sleep(0)
    server.release.set()
    assert await first == 10
    assert [await task for task in rest] == [20, 30, 40, 50, 60]
    assert server.batches == [[1], [2, 3, 4], [5, 6]]
    assert len(batches) == 0


async def test_names_are_served_apart() -> None:
    batches, server = Batches(), Server()
    tasks = [asyncio.create_task(batches.submit(name, n, server)) for n, name in enumerate("abab")]
    await asyncio.sleep(0)
    server.release.set()
    assert [await task for task in tasks] == [0, 10, 20, 30]
    assert sorted(server.batches) == [[0, 2], [1, 3]]  # never a's with b's


async def test_a_caller_that_gave_up_before_its_batch_is_left_out() -> None:
    batches, server = Batches(), Server()
    first = asyncio.create_task(batches.submit("p", 1, server))
    await asyncio.sleep(0)
    gone = asyncio.create_task(batches.submit("p", 2, server))
    kept = asyncio.create_task(batches.submit("p", 3, server))
    await asyncio.sleep(0)
    gone.cancel()
    server.release.set()
    assert (await first, await kept) == (10, 30)
    assert server.batches == [[1], [3]]


async def test_a_failed_batch_fails_its_callers_only_and_the_server_goes_on() -> None:
    batches, server = Batches(), Server()
    first = asyncio.create_task(batches.submit("p", 1, server))
    await asyncio.sleep(0)
    second = asyncio.create_task(batches.submit("p", 2, server))
    await asyncio.sleep(0)
    server.fail_with = RuntimeError("the database is gone")
    server.release.set()
    with pytest.raises(RuntimeError):
        await first
    with pytest.raises(RuntimeError):
        await second
    server.fail_with = None
    assert await batches.submit("p", 3, server) == 30


async def test_a_caller_that_gives_up_while_its_batch_runs_stops_it_and_the_rest_go_again() -> None:
    batches, server = Batches(), Server()
    calls = {n: asyncio.create_task(batches.submit("p", n, server)) for n in (1, 2, 3)}
    await asyncio.sleep(0.01)
    assert server.batches == [[1, 2, 3]]  # being served, held
    calls[2].cancel()
    await asyncio.sleep(0.01)
    server.release.set()

    assert (await calls[1], await calls[3]) == (10, 30)
    assert server.batches == [[1, 2, 3], [1, 3]]
    assert len(batches) == 0
