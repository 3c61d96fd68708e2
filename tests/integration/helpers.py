"""Helpers for the integration tests: stored user documents and explain plans."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mongoshop._async.services.users import new_user_document
from mongoshop.models.common import Document
from mongoshop.models.users import Role, UserStatus

FAKE_HASH = "not-a-real-hash"
"""For documents inserted directly: those users never sign in."""


def user_document(
    name: str,
    email: str,
    *,
    status: UserStatus = UserStatus.ACTIVE,
    roles: tuple[Role, ...] = (Role.USER,),
    created_at: datetime | None = None,
    login_count: int = 0,
) -> Document:
    """A user exactly as the service stores one, with the fields a test wants to pin."""
    document = new_user_document(
        name=name, email=email, password_hash=FAKE_HASH, roles=roles, status=status
    )
    if created_at is not None:
        document["created_at"] = document["updated_at"] = created_at
    document["login_count"] = login_count
    return document


# --- turning a recorded command into an explain() ---------------------------------------

_KEEP = {
    "find": {"find", "filter", "sort", "projection", "skip", "limit", "hint", "collation"},
    "aggregate": {"aggregate", "pipeline", "cursor", "hint", "collation"},
}


def explainable(command: Mapping[str, Any]) -> Document:
    """The query part of a command the driver sent, ready to pass to ``explain``.

    Session, cluster-time and read-preference fields are dropped. A ``delete``
    becomes the ``find`` of its filter: the planner chooses the same way for
    both, and not every server explains a delete's filter faithfully.
    """
    name = next(iter(command))
    if name == "delete":
        (statement,) = command["deletes"]
        return {"find": command["delete"], "filter": statement["q"]}
    if name not in _KEEP:
        raise ValueError(f"cannot explain a {name!r} command")
    return {key: value for key, value in command.items() if key in _KEEP[name]}
