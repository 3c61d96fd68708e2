"""The outbox's documents: each e-mail rendered once, keyed so it is enqueued once.

Pure functions (no I/O): the services and the worker build the document, the
outbox repository stores it, the sender sends what was stored. The key
(`outbox_key`) holds what makes the e-mail unique (its kind, subject, address),
so a change stream replaying an event enqueues nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from bson import ObjectId

from mongoshop.clock import utcnow
from mongoshop.mail.templates import render
from mongoshop.models.common import Document
from mongoshop.models.mail import MailKind, MailStatus, outbox_key
from mongoshop.models.users import UserInDB


def outbox_document(
    kind: MailKind,
    subject_id: ObjectId | str,
    to: str,
    language: str | None,
    values: dict[str, str],
    lines: list[str] | None = None,
    trace: Mapping[str, str] | None = None,
) -> Document:
    """`trace`: the context of the change event that asks for the e-mail (where tracing is
    on): its sending is a span of that trace."""
    mail = render(kind, language, values, lines)
    now = utcnow()
    return {
        **({} if trace is None else {"trace": dict(trace)}),
        "_id": outbox_key(kind, subject_id, to),
        "kind": kind.value,
        "to": to,
        "subject": mail.subject,
        "text": mail.text,
        "html": mail.html,
        "status": MailStatus.PENDING.value,
        "attempts": 0,
        "available_at": now,
        "claimed_by": None,
        "last_error": None,
        "created_at": now,
        "sent_at": None,
    }


def welcome_document(user: UserInDB, trace: Mapping[str, str] | None = None) -> Document:
    return outbox_document(
        MailKind.WELCOME,
        user.id,
        user.email,
        user.preferences.language,
        {"name": user.name, "email": user.email},
        trace=trace,
    )


def verification_document(
    user: Mapping[str, Any], digest: str, token: str, valid_for: timedelta
) -> Document:
    """The e-mail carrying a verification code; one per code (the key holds the digest)."""
    preferences = user.get("preferences") or {}
    return outbox_document(
        MailKind.VERIFY_EMAIL,
        digest[:32],
        user["email"],
        preferences.get("language"),
        {
            "name": user.get("name", ""),
            "token": token,
            "hours": str(max(1, round(valid_for.total_seconds() / 3600))),
        },
    )


def registration_notice_document(user: Mapping[str, Any], day: str) -> Document:
    """To the owner of a taken address; at most one a day (the key holds the day)."""
    preferences = user.get("preferences") or {}
    return outbox_document(
        MailKind.REGISTRATION_NOTICE,
        f"{user['_id']}-{day}",
        user["email"],
        preferences.get("language"),
        {"name": user.get("name", "")},
    )
