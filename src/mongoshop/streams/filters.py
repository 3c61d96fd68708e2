"""The change streams' server-side filters, named once: the worker's mail and webhook
streams of one collection ask for the same events in the same words."""

from __future__ import annotations

from mongoshop.models.common import Document


def inserted_or_set(field: str, value: object) -> Document:
    """Inserts, and the updates that set `field` to `value` (not every other update)."""
    return {
        "$or": [
            {"operationType": "insert"},
            {"operationType": "update", f"updateDescription.updatedFields.{field}": value},
        ]
    }


NEW_OR_VERIFIED_USERS = inserted_or_set("email_verified", True)
"""New users, and the verification of a self-registered one (not every sign-in's login
count)."""
PLACED_OR_CANCELLED_ORDERS = inserted_or_set("status", "cancelled")
CREDITS = {"fullDocument.amount": {"$gt": 0}}
"""Ledger entries that add money (a deposit, a refund, a transfer received)."""
