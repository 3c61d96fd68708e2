"""The sender and the transport: message ids, logs without addresses, back-off."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import aiosmtplib
import pytest

from mongoshop.mail.transport import build_message
from mongoshop.models.mail import OutboxItem
from mongoshop.settings import Settings


def welcome_item() -> OutboxItem:
    now = datetime.now(UTC)
    return OutboxItem.model_validate(
        {
            "_id": "welcome:6650f1c2a1b2c3d4e5f60718:zoe@example.com",
            "kind": "welcome",
            "to": "zoe@example.com",
            "subject": "Hi",
            "text": "plain",
            "html": "<p>html</p>",
            "status": "pending",
            "available_at": now,
            "created_at": now,
        }
    )


def test_messages_carry_a_stable_message_id_and_both_parts() -> None:
    item = welcome_item()
    first, second = build_message(item, "shop <a@b.c>"), build_message(item, "shop <a@b.c>")
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Message-ID"] == "<welcome.6650f1c2a1b2c3d4e5f60718.zoe.example.com@mongoshop>"
    parts = [part.get_content_type() for part in first.walk()]
    assert "text/plain" in parts
    assert "text/html" in parts


def test_sender_logs_name_the_e_mail_but_not_the_address() -> None:
    from mongoshop.worker.mail_sender import loggable

    assert loggable(welcome_item()) == "welcome:6650f1c2a1b2c3d4e5f60718"


class OneItemOutbox:
    """Hands out one item, then records what the sender says of it."""

    def __init__(self, item: OutboxItem) -> None:
        self.item: OutboxItem | None = item
        self.errors: list[str] = []

    async def claim_some(
        self, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxItem]:
        item, self.item = self.item, None
        return [] if item is None else [item]

    async def sweep(self, now: datetime) -> int:
        return 0

    async def mark_failed_attempt(
        self, key: str, owner: str, error: str, retry_at: datetime | None, *, scrub: bool = False
    ) -> bool:
        self.errors.append(error)
        return True


class RefusingTransport:
    async def send(self, item: OutboxItem) -> None:
        raise aiosmtplib.SMTPRecipientRefused(550, f"5.1.1 <{item.to}>: no such user", item.to)


@pytest.mark.parametrize("attempts", [1, 10], ids=["retried", "given up"])
async def test_an_smtp_refusal_quoting_the_address_is_logged_without_it(
    attempts: int, caplog: pytest.LogCaptureFixture
) -> None:
    from mongoshop.worker.mail_sender import OutboxSender

    item = welcome_item().model_copy(update={"attempts": attempts})
    outbox = OneItemOutbox(item)
    settings = Settings(environment="test", mail_max_attempts=10)  # type: ignore[call-arg]
    sender = OutboxSender(outbox, RefusingTransport(), settings)  # type: ignore[arg-type]

    with caplog.at_level(logging.DEBUG, logger="mongoshop"):
        assert await sender.send_some()

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "SMTPRecipientRefused (SMTP 550)" in logged
    assert "zoe" not in logged.lower()
    assert "zoe@example.com" in outbox.errors[0]  # kept with the item, for the admin


def test_sender_backoff_doubles_with_jitter_and_is_capped() -> None:
    from mongoshop.settings import Settings
    from mongoshop.worker.mail_sender import MAX_BACKOFF, OutboxSender

    sender = OutboxSender(
        outbox=None,  # type: ignore[arg-type]
        transport=None,  # type: ignore[arg-type]
        settings=Settings(mail_retry_base_seconds=2),  # type: ignore[call-arg]
    )
    first = [sender.backoff(1) for _ in range(200)]
    assert timedelta(seconds=1) <= min(first)
    assert max(first) <= timedelta(seconds=2)
    assert max(first) - min(first) > timedelta(seconds=0.25), "jittered, not all at once"
    third = [sender.backoff(3) for _ in range(200)]
    assert timedelta(seconds=4) <= min(third)
    assert max(third) <= timedelta(seconds=8)
    capped = [sender.backoff(50) for _ in range(200)]
    assert min(capped) >= MAX_BACKOFF / 2
    assert max(capped) <= MAX_BACKOFF


class BatchOutbox:
    """Hands out a batch once; records what is sent and what is given back."""

    def __init__(self, items: list[OutboxItem]) -> None:
        self.items = items
        self.sent: list[str] = []
        self.released: list[tuple[str, int]] = []

    async def claim_some(
        self, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxItem]:
        items, self.items = self.items[:limit], []
        return items

    async def mark_sent(self, key: str, owner: str, at: datetime, *, scrub: bool = False) -> bool:
        self.sent.append(key)
        return True

    async def release(self, key: str, owner: str, attempts: int) -> bool:
        self.released.append((key, attempts))
        return True


class SlowTransport:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def send(self, item: OutboxItem) -> None:
        await asyncio.sleep(self.seconds)


async def test_a_batch_is_sent_only_while_each_lease_outlives_an_attempt() -> None:
    """Lease 2 s, SMTP timeout 1 s: an item whose turn comes more than 1 s after the claim
    is given back (its attempt not counted), never sent on a lease about to run out."""
    from mongoshop.worker.mail_sender import OutboxSender

    items = [
        welcome_item().model_copy(update={"key": f"welcome:{n}:zoe@example.com", "attempts": 1})
        for n in range(4)
    ]
    outbox = BatchOutbox(items)
    settings = Settings(  # type: ignore[call-arg]
        environment="test", mail_lease_seconds=2, smtp_timeout_seconds=1
    )
    sender = OutboxSender(outbox, SlowTransport(0.45), settings)  # type: ignore[arg-type]

    assert await sender.send_some()

    assert outbox.sent == [item.key for item in items[:3]]
    assert outbox.released == [(items[3].key, 0)]
