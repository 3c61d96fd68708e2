"""The loop every queue's worker runs: take an item, deal with it, again; supervised.

The mail sender and the webhook deliverer each give it their step (claim one
item, send it, record the outcome) and their chores (the sweep that puts
items due again back in line, and so on). One loop, so that the rules are the
same for both: an outage is waited out, and anything else that goes wrong
with one item is that item's failed attempt, logged, never the end of the loop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pymongo.errors import PyMongoError

from mongoshop.errors import is_unavailable
from mongoshop.worker.graceful import StopRequest, raise_if_cancelled

logger = logging.getLogger(__name__)

Step = Callable[[], Awaitable[bool]]
"""Deal with the next item; False when there was none."""
Chores = Callable[[], Awaitable[None]]


async def drain(
    name: str, step: Step, chores: Chores, stop: StopRequest, *, idle_delay: float
) -> None:
    """Run `chores` then `step` until `stop` is requested; sleep `idle_delay` when
    there was nothing to do, four times that after a failure of the step (a failure
    of the chores does not keep the step from running)."""
    while not stop.requested:
        raise_if_cancelled()
        try:
            await chores()
        except Exception:
            # A chore that fails (every time, even: a document the sweep cannot handle)
            # is logged; the queue's items are still dealt with.
            raise_if_cancelled()
            logger.exception("%s: a chore failed; going on", name)
        try:
            worked = await step()
        except PyMongoError as exc:
            raise_if_cancelled()
            if is_unavailable(exc):
                logger.warning("%s waiting for the database: %s", name, exc)
            else:
                logger.exception("%s failed", name)
            await stop.sleep(idle_delay * 4)
            continue
        except Exception:  # a stored item this code cannot read, say: not the end
            raise_if_cancelled()
            logger.exception("%s failed; going on", name)
            await stop.sleep(idle_delay * 4)
            continue
        if not worked:
            await stop.sleep(idle_delay)
