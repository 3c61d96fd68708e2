"""0003 and 0004: e-mails and webhook deliveries enqueued by an older version join the line.

Before the line (`mongoshop._async.repositories.line`), a pending item was due at its
`available_at`, found by a sort over the whole due backlog. Now a claim reads only the
line, and the sweep finds items due again by `due_at`: an old pending item has neither
a place nor a `due_at`, so nothing would ever find it. This gives each its `due_at`
(its `available_at`); the next sweep puts those already due in line, the others when
their time comes. Idempotent and resumable: items that have either field are skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mongoshop.clock import utcnow
from mongoshop.migrations.runner import Step

UNFOUND = {"status": "pending", "place": None, "due_at": None}
"""Pending, with neither a place in line nor a `due_at` (None matches a missing field)."""


def _due(item: Mapping[str, Any]) -> Mapping[str, Any]:
    return {"$set": {"due_at": item.get("available_at") or utcnow()}}


def line_up_older_emails(step: Step) -> None:
    step.rewrite("mail_outbox", UNFOUND, _due, projection={"available_at": 1})


def line_up_older_deliveries(step: Step) -> None:
    """A migration of its own (0004): a step's checkpoint is one `_id` in one collection."""
    step.rewrite("webhook_deliveries", UNFOUND, _due, projection={"available_at": 1})
