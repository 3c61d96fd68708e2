"""A background loop that ends unexpectedly is logged and started again; one asked to stop
stops; `/metrics` sees which loops run and how often they were restarted."""

from __future__ import annotations

import asyncio
import logging

import pytest

from mongoshop.observability import Metrics
from mongoshop.worker.graceful import StopRequest
from mongoshop.worker.supervision import Supervisor


async def test_a_loop_that_raises_is_restarted_until_it_is_asked_to_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor(first_delay=0.01, max_delay=0.05)
    stop = StopRequest()
    runs = 0
    healthy = asyncio.Event()

    async def loop() -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise ValueError("a value no handler expected")
        healthy.set()
        await stop.sleep(60)  # a healthy loop: runs until asked to stop

    with caplog.at_level(logging.ERROR):
        task = supervisor.start("deliverer", loop, stop)
        await asyncio.wait_for(healthy.wait(), 5)
        [state] = supervisor.loops
        assert (state.name, state.up, state.restarts) == ("deliverer", True, 3)
        stop.request()
        await asyncio.wait_for(task, 1)
    assert not state.up
    assert runs == 4
    assert sum("ended unexpectedly" in r.getMessage() for r in caplog.records) == 3
    assert "ValueError" in caplog.text  # the traceback is logged, not lost


async def test_a_loop_that_returns_unasked_is_restarted_too() -> None:
    supervisor = Supervisor(first_delay=0.01)
    stop = StopRequest()
    runs = 0

    async def loop() -> None:
        nonlocal runs
        runs += 1
        if runs == 3:
            stop.request()

    await asyncio.wait_for(supervisor.start("sender", loop, stop), 1)
    assert runs == 3
    assert supervisor.loops[0].restarts == 2


async def test_a_cancelled_loop_is_not_restarted() -> None:
    supervisor = Supervisor(first_delay=0.01)
    stop = StopRequest()
    task = supervisor.start("stream", lambda: asyncio.sleep(60), stop)
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert supervisor.loops[0].restarts == 0
    assert not supervisor.loops[0].up


async def test_metrics_show_each_loop_up_and_its_restarts() -> None:
    supervisor = Supervisor(first_delay=30)
    stop = StopRequest()

    async def broken() -> None:
        raise RuntimeError("broken")

    healthy = supervisor.start("write-watch", lambda: stop.sleep(60), stop)
    failing = supervisor.start("webhook-deliverer", broken, stop)
    await asyncio.sleep(0.05)
    metrics = Metrics()
    metrics.track_loops(supervisor)
    text = metrics.render().decode()
    assert 'mongoshop_worker_loop_up{loop="write-watch"} 1.0' in text
    assert 'mongoshop_worker_loop_up{loop="webhook-deliverer"} 0.0' in text
    assert 'mongoshop_worker_loop_restarts_total{loop="webhook-deliverer"} 1.0' in text
    stop.request()
    await asyncio.wait_for(asyncio.gather(healthy, failing), 1)
