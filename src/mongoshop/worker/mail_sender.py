"""The outbox sender: claim with a lease, send, record; retry with back-off.

Several senders (in several workers) may run at once: a claim is one guarded
``update_one`` by ``_id`` on an item in line (`AsyncLine`), and the lease
(MONGOSHOP_MAIL_LEASE_SECONDS, at least twice the SMTP timeout) outlives any
send, so no item is sent twice. An item whose sender died is put back in line
once its lease ends.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pymongo

from mongoshop._async.repositories.outbox import AsyncOutboxRepository
from mongoshop.backoff import jittered_backoff
from mongoshop.clock import utcnow
from mongoshop.every import Every
from mongoshop.mail.transport import MailTransport
from mongoshop.models.mail import CARRIES_A_SECRET, OutboxItem
from mongoshop.observability.tracing import claimed_span, span
from mongoshop.printable import printable
from mongoshop.settings import Settings
from mongoshop.worker.draining import drain
from mongoshop.worker.graceful import StopRequest

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=30)
SEND_BATCH = 8
"""E-mails a sender claims at once (one read of the line's window for all of them)."""
SWEEP_EVERY = timedelta(seconds=1)
"""How often e-mails due again are put back in line: the wait a retry may add."""


def loggable(item: OutboxItem) -> str:
    """The item's key without its recipient: logs name the e-mail, never the address."""
    return item.key.rsplit(":", 1)[0]


def loggable_error(exc: BaseException) -> str:
    """What a log may say of a delivery error: its type and SMTP code, never its text.

    An SMTP server's reply usually quotes the recipient ("5.1.1 <eve@example.com>:
    no such user"); the full text is kept with the item in the outbox, not in logs.
    """
    code = getattr(exc, "code", None)
    return type(exc).__name__ + (f" (SMTP {code})" if isinstance(code, int) else "")


class OutboxSender:
    def __init__(
        self,
        outbox: AsyncOutboxRepository,
        transport: MailTransport,
        settings: Settings,
        *,
        idle_delay: float = 0.5,
        chores: bool = True,
    ) -> None:
        """`chores`: this one also sweeps the line each second (one per worker is enough)."""
        self.outbox = outbox
        self.transport = transport
        self.owner = f"sender-{uuid.uuid4().hex[:12]}"
        self.lease = timedelta(seconds=settings.mail_lease_seconds)
        self.max_attempts = settings.mail_max_attempts
        self.retry_base = timedelta(seconds=settings.mail_retry_base_seconds)
        self.idle_delay = idle_delay
        self.step_timeout = settings.operation_timeout_seconds
        self.send_timeout = timedelta(seconds=settings.smtp_timeout_seconds)
        self.batch = SEND_BATCH
        self.stop = StopRequest()
        """Ask `run` to return once the message in hand is sent and recorded."""
        self.chores = chores
        self._sweep = Every(SWEEP_EVERY)

    def backoff(self, attempts: int) -> timedelta:
        """Exponential from the base, capped at 30 minutes, jittered
        (`mongoshop.backoff.jittered_backoff`)."""
        seconds = jittered_backoff(
            attempts, self.retry_base.total_seconds(), MAX_BACKOFF.total_seconds()
        )
        return timedelta(seconds=seconds)

    async def run(self) -> None:
        """Send until stopped (`mongoshop.worker.draining.drain`)."""
        # When idle, only the worker's first one polls the line often; the others
        # look four times less often (the first finds new work within its delay).
        idle = self.idle_delay if self.chores else self.idle_delay * 4
        await drain("outbox sender", self.send_some, self._chores, self.stop, idle_delay=idle)

    async def _chores(self) -> None:
        """Once a second, put back in line the items due again (a back-off over, a
        lease ended: `AsyncLine.sweep`)."""
        if self.chores and self._sweep.due():
            with pymongo.timeout(self.step_timeout):
                await self.outbox.sweep(utcnow())

    async def send_some(self) -> bool:
        """Claim up to `batch` items in line and send them; False when none was due.

        Several at once: the line's window is read once for all of them. They are
        sent in turn, each only while its lease still outlives an SMTP attempt;
        the rest go back in line for another sender (the lease is at least twice
        the SMTP timeout, never `batch` times: a slow server must not make one
        item's lease run out while it waits its turn, and be sent twice). The
        claim and the recordings each run under the operation deadline (not the
        send, which has the SMTP timeout): a frozen database is noticed within it.
        """
        claimed_at = utcnow()
        with pymongo.timeout(self.step_timeout):
            items = await self.outbox.claim_some(self.owner, claimed_at, self.lease, self.batch)
        if items:
            claimed_span("outbox claim", claimed_at, [item.trace for item in items])
        last_start = claimed_at + self.lease - self.send_timeout
        for number, item in enumerate(items):
            if utcnow() > last_start:
                with pymongo.timeout(self.step_timeout):
                    for left in items[number:]:
                        await self.outbox.release(left.key, self.owner, left.attempts - 1)
                break
            await self._deliver(item)
        return bool(items)

    async def _deliver(self, item: OutboxItem) -> None:
        """Send one e-mail and record how it went: a span of its change event's trace
        (the kind and the attempt, never the address: the key holds it)."""
        attributes = {"mongoshop.mail.kind": item.kind.value, "mongoshop.attempt": item.attempts}
        with span("mail send", parent=item.trace, attributes=attributes) as sending:
            try:
                await self.transport.send(item)
            except Exception as exc:  # any failure of delivery means "retry later"
                sending.set_attribute("error.type", type(exc).__name__)
                with pymongo.timeout(self.step_timeout):
                    outcome = await self._record_failure(item, exc)
                sending.set_attribute("mongoshop.outcome", outcome)
                return
            with pymongo.timeout(self.step_timeout):
                await self._record_sent(item)
            sending.set_attribute("mongoshop.outcome", "sent")

    async def _record_failure(self, item: OutboxItem, exc: Exception) -> str:
        """Record a failed attempt; what follows: ``retry`` or ``failed`` (given up)."""
        # The server's reply, as it may be stored: a reply that is not UTF-8 (decoded
        # with surrogates) could not be, and the e-mail was never counted nor failed.
        error = printable(f"{type(exc).__name__}: {exc}")
        if item.attempts >= self.max_attempts:
            logger.error(
                "giving up on %s after %d attempts: %s",
                loggable(item),
                item.attempts,
                loggable_error(exc),
            )
            await self.outbox.mark_failed_attempt(
                item.key, self.owner, error, None, scrub=item.kind in CARRIES_A_SECRET
            )
            return "failed"
        retry_at = utcnow() + self.backoff(item.attempts)
        logger.warning(
            "sending %s failed (attempt %d): %s",
            loggable(item),
            item.attempts,
            loggable_error(exc),
        )
        await self.outbox.mark_failed_attempt(item.key, self.owner, error, retry_at)
        return "retry"

    async def _record_sent(self, item: OutboxItem) -> None:
        scrub = item.kind in CARRIES_A_SECRET
        if not await self.outbox.mark_sent(item.key, self.owner, utcnow(), scrub=scrub):
            logger.error("lease on %s was lost while sending; it may be sent again", loggable(item))
        else:
            logger.info("sent %s", loggable(item))
