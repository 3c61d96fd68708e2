"""A chore's failing round is that round's: logged, and the next round comes on time."""

from __future__ import annotations

import asyncio
import logging

import pytest

from mongoshop.worker.chores import Chore


async def test_a_round_that_raises_ends_that_round_not_the_chore(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rounds = 0
    done = asyncio.Event()

    async def round() -> int:
        nonlocal rounds
        rounds += 1
        if rounds in (1, 3):
            raise UnicodeEncodeError("ascii", "ü", 0, 1, "a hostile value in a document")
        if rounds == 4:
            done.set()
        return rounds

    chore = Chore("account-expiry", 0.01, round)
    with caplog.at_level(logging.ERROR):
        task = asyncio.create_task(chore.run())
        await asyncio.wait_for(done.wait(), 5)
        chore.stop.request()
        await asyncio.wait_for(task, 1)
    assert rounds == 4
    failures = [r for r in caplog.records if "a round failed" in r.getMessage()]
    assert len(failures) == 2
    assert all(r.getMessage().startswith("account-expiry") for r in failures)
    assert "UnicodeEncodeError" in caplog.text  # the traceback is kept


async def test_a_chore_asked_to_stop_while_it_waits_returns_at_once() -> None:
    rounds = 0

    async def round() -> None:
        nonlocal rounds
        rounds += 1

    chore = Chore("account-expiry", 3600, round)
    task = asyncio.create_task(chore.run())
    await asyncio.sleep(0.05)
    chore.stop.request()
    await asyncio.wait_for(task, 1)
    assert rounds == 1


async def test_a_round_that_hangs_is_cut_off_and_the_next_one_comes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A database that stops answering (or anything else that never returns) ends the
    round at its deadline, not the chore."""
    rounds = 0
    second = asyncio.Event()

    async def round() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            await asyncio.Event().wait()  # never set: a silent peer
        second.set()

    chore = Chore("account-expiry", 0.01, round, round_seconds=0.2)
    with caplog.at_level(logging.ERROR):
        task = asyncio.create_task(chore.run())
        await asyncio.wait_for(second.wait(), 5)
        chore.stop.request()
        await asyncio.wait_for(task, 1)
    assert "TimeoutError" in caplog.text
