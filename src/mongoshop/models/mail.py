"""The mail outbox: e-mails to send, each at most once per (recipient, kind, subject)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class MailKind(StrEnum):
    WELCOME = "welcome"
    ORDER_CONFIRMATION = "order_confirmation"
    VERIFY_EMAIL = "verify_email"
    """The code that confirms a new account's address."""
    REGISTRATION_NOTICE = "registration_notice"
    """To a verified account's owner: someone tried to register with this address."""


CARRIES_A_SECRET = frozenset({MailKind.VERIFY_EMAIL})
"""E-mails whose text holds a secret (a verification code): once sent, or given up on,
their text is replaced by `SCRUBBED` in the outbox, so the code is not kept at rest."""
SCRUBBED = "(removed after sending: this e-mail carried a one-time code)"


class MailStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


def outbox_key(kind: MailKind, subject_id: object, recipient: str) -> str:
    """The outbox `_id`: the unique index on it lets each e-mail be enqueued only once."""
    return f"{kind.value}:{subject_id}:{recipient.lower()}"


class OutboxItem(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    key: str = Field(alias="_id")
    kind: MailKind
    to: str
    subject: str
    text: str
    html: str
    status: MailStatus
    attempts: int = 0
    available_at: datetime | None = None
    """Pending out of the line: when it is due again (after a back-off, or when a lease
    ends). None while it stands in line (`place`), due since `lined_at`."""
    place: int | None = None
    lined_at: datetime | None = None
    due_at: datetime | None = None
    """Out of the line, pending: `available_at` again, in the field the sweep reads (done
    items keep `available_at`, never this)."""
    claimed_by: str | None = None
    last_error: str | None = None
    created_at: datetime
    sent_at: datetime | None = None
    trace: dict[str, str] | None = None
    """The trace context of the change event that caused it (where tracing is on): its
    sending attempts are spans of that trace."""


class OutboxCounts(BaseModel):
    pending: int
    sent: int
    failed: int


class OutboxStats(OutboxCounts):
    """The outbox at a glance: e-mails by status and how long the oldest one has waited."""

    oldest_pending_at: datetime | None
    """When the oldest e-mail still to send was enqueued; None when none is pending."""
    oldest_pending_age_seconds: int | None
    """Whole seconds from `oldest_pending_at` to `as_of`."""
    as_of: datetime
