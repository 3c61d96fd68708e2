"""The deliverer: claim a delivery with a lease, sign it, POST it, record the attempt.

As the mail outbox's sender: several deliverers (in several workers) may run
at once; each claim is won by one, and the lease (MONGOSHOP_WEBHOOK_LEASE_SECONDS,
at least twice the attempt's timeout) outlives any attempt, so no delivery is
made twice at once. A deliverer killed mid-attempt leaves its delivery to be
claimed again when the lease ends: the receiver may then see that event twice
(it de-duplicates by the event id), the one case of a repeat.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Protocol

import pymongo
from bson import ObjectId
from opentelemetry.trace import Span
from pymongo.errors import PyMongoError

from mongoshop._async.repositories.webhooks import (
    AsyncDeliveryRepository,
    AsyncSubscriptionRepository,
)
from mongoshop.backoff import jittered_backoff
from mongoshop.clock import Clock, utcnow
from mongoshop.errors import ValidationFailed
from mongoshop.every import Every
from mongoshop.models.webhooks import (
    Attempt,
    DeliveryInDB,
    SubscriptionInDB,
    SubscriptionStatus,
)
from mongoshop.observability.tracing import claimed_span, say, span
from mongoshop.settings import Settings
from mongoshop.webhooks.client import Outcome, WebhookClient
from mongoshop.webhooks.in_flight import InFlight
from mongoshop.webhooks.signing import canonical_body, signed_headers
from mongoshop.webhooks.targets import parse_target
from mongoshop.worker.draining import drain
from mongoshop.worker.graceful import StopRequest, raise_if_cancelled

logger = logging.getLogger(__name__)

DELIVER_BATCH = 8
"""Deliveries a deliverer claims at once (one read of the line's window for all of them)."""
RELEASE_EVERY = timedelta(seconds=10)
"""How often held deliveries of active subscriptions are looked for (a resume that
raced with a pause leaves some; `AsyncWebhookService.release_held`)."""
SWEEP_EVERY = timedelta(seconds=1)
"""How often deliveries due again (a retry's back-off over, a lease ended) are put back
in line (`AsyncLine.sweep`): the wait a retry may add to its back-off."""
AUTO_PAUSE_REASON = "paused automatically: {count} deliveries in a row died (last: {error})"


class DeliveryObserver(Protocol):
    """What the metrics see of deliveries (`mongoshop.observability.metrics.Metrics`)."""

    def observe_webhook_attempt(self, outcome: str, seconds: float) -> None: ...

    def observe_webhook_delivered(self, latency: float) -> None: ...


def _described(delivery: DeliveryInDB) -> dict[str, Any]:
    """What an attempt's span says of its delivery: never its URL (a partner may put a
    token in it) nor its body."""
    return {
        "mongoshop.webhook.event_type": delivery.event.type.value,
        "mongoshop.webhook.event_id": delivery.event.id,
        "mongoshop.webhook.subscription_id": str(delivery.subscription_id),
        "mongoshop.attempt": delivery.attempts,
    }


def _tell(attempting: Span, outcome: Outcome) -> None:
    attributes: dict[str, Any] = {"mongoshop.webhook.duration_ms": round(outcome.duration * 1000)}
    if outcome.status_code is not None:
        attributes["http.response.status_code"] = outcome.status_code
    if outcome.error is not None:
        attributes["error.type"] = outcome.error.split(":", 1)[0][:100]
    attempting.set_attributes(attributes)


class WebhookDeliverer:
    def __init__(
        self,
        subscriptions: AsyncSubscriptionRepository,
        deliveries: AsyncDeliveryRepository,
        client: WebhookClient,
        settings: Settings,
        *,
        observer: DeliveryObserver | None = None,
        idle_delay: float = 0.25,
        clock: Clock = utcnow,
        chores: bool = True,
        in_flight: InFlight | None = None,
    ) -> None:
        """`chores`: this one also sweeps the line and releases held deliveries now and
        then (one deliverer per worker is enough). `in_flight`: shared by a worker's
        deliverers, it bounds their attempts to one subscription at once."""
        self.subscriptions = subscriptions
        self.deliveries = deliveries
        self.client = client
        self.owner = f"webhooks-{uuid.uuid4().hex[:12]}"
        self.lease = timedelta(seconds=settings.webhook_lease_seconds)
        self.attempt_timeout = timedelta(seconds=settings.webhook_timeout_seconds)
        self.batch = DELIVER_BATCH
        self.max_attempts = settings.webhook_max_attempts
        self.retry_base = settings.webhook_retry_base_seconds
        self.max_backoff = settings.webhook_max_backoff_seconds
        self.pause_after = settings.webhook_pause_after_dead
        self.circuit_failures = settings.webhook_circuit_failures
        self.circuit_open_for = timedelta(seconds=settings.webhook_circuit_open_seconds)
        self.retention = timedelta(days=settings.webhook_retention_days)
        self.require_https = settings.environment == "production"
        self.observer = observer
        self.idle_delay = idle_delay
        self.step_timeout = settings.operation_timeout_seconds
        self.clock = clock
        self.stop = StopRequest()
        """Ask `run` to return once the delivery in hand is made and recorded."""
        self.chores = chores
        self.in_flight = in_flight or InFlight(settings.webhook_per_subscription)
        self._release = Every(RELEASE_EVERY, clock)
        self._sweep = Every(SWEEP_EVERY, clock)

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds before the next attempt (`mongoshop.backoff.jittered_backoff`)."""
        return jittered_backoff(attempts, self.retry_base, self.max_backoff, retry_after)

    async def run(self) -> None:
        """Deliver until stopped (`mongoshop.worker.draining.drain`)."""
        # When idle, only the worker's first one polls the line often; the others
        # look four times less often (the first finds new work within its delay).
        idle = self.idle_delay if self.chores else self.idle_delay * 4
        await drain(
            "webhook deliverer", self.deliver_some, self._chores, self.stop, idle_delay=idle
        )

    async def _chores(self) -> None:
        """Put back in line the deliveries due again (each second), release the held
        ones of active subscriptions (each 10 s)."""
        if not self.chores:
            return
        if self._sweep.due():
            with pymongo.timeout(self.step_timeout):
                await self.deliveries.sweep(self.clock())
        if self._release.due():
            with pymongo.timeout(self.step_timeout):
                ids = await self.subscriptions.active_ids()
                released = await self.deliveries.release_held(ids)
            if released:
                logger.info("%d held webhook deliveries released", released)

    async def deliver_some(self) -> bool:
        """Claim up to `batch` due deliveries and make them; False when none was due.

        Several at once: the line's window, the earlier events of their objects
        and their subscriptions are read once for all of them. The batch's
        subscriptions are served at the same time, each one's deliveries in turn:
        a receiver that hangs holds its own deliveries of the batch, never another
        subscription's. Each is made only while its lease still outlives an
        attempt; the rest go back in line for another deliverer, as do the rest of
        a subscription's once one of its attempts failed (a receiver that hangs
        holds one attempt of a batch, not one per delivery). The claim and the
        recordings run under the operation deadline, not the POST, which has its
        own timeout.
        """
        claimed_at = self.clock()
        with pymongo.timeout(self.step_timeout):
            deliveries = await self.deliveries.claim_some(
                self.owner, claimed_at, self.lease, self.batch
            )
            if deliveries:
                claimed_span("webhook claim", claimed_at, [d.trace for d in deliveries])
            subscriptions = {
                id: await self.subscriptions.find_by_id(id)
                for id in dict.fromkeys(delivery.subscription_id for delivery in deliveries)
            }
        last_start = claimed_at + self.lease - self.attempt_timeout
        by_subscription: dict[ObjectId, list[DeliveryInDB]] = {}
        for delivery in deliveries:
            by_subscription.setdefault(delivery.subscription_id, []).append(delivery)
        outcomes = await asyncio.gather(
            *(
                self._deliver_to(subscriptions[id], group, last_start)
                for id, group in by_subscription.items()
            ),
            return_exceptions=True,
        )
        # Every subscription's turn was taken before a failure of one is raised (to the
        # drain loop, which logs it and goes on).
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        crowded = sum(outcome for outcome in outcomes if isinstance(outcome, int))
        # Only deliveries whose subscriptions had their share in flight: as good as idle
        # (claiming them again at once would only spin).
        return 0 < len(deliveries) > crowded

    async def _deliver_to(
        self,
        subscription: SubscriptionInDB | None,
        deliveries: list[DeliveryInDB],
        last_start: datetime,
    ) -> int:
        """Make one subscription's deliveries of a batch in turn; how many were given back
        because this worker already had its share of attempts to it in flight."""
        crowded = 0
        failing = False
        for delivery in deliveries:
            if self.clock() > last_start:
                await self._give_back(delivery)
                continue
            if not await self._deliverable(delivery, subscription):
                continue
            assert subscription is not None  # deliverable
            if failing:
                await self._give_back(delivery)
                continue
            # Counted per endpoint: two subscriptions to one URL share its bound.
            if not self.in_flight.enter(subscription.url):
                # Other deliverers of this worker hold its share: another one's turn.
                await self._give_back(delivery)
                crowded += 1
                continue
            try:
                with span(
                    "webhook attempt", parent=delivery.trace, attributes=_described(delivery)
                ) as attempting:
                    outcome = await self._attempt(delivery, subscription)
                    with pymongo.timeout(self.step_timeout):
                        outcome = await self._record_safely(delivery, subscription, outcome)
                        subscription = await self._count(subscription, outcome)
                    _tell(attempting, outcome)
            finally:
                self.in_flight.leave(subscription.url)
            failing = not outcome.delivered
        return crowded

    async def _give_back(self, delivery: DeliveryInDB) -> None:
        with pymongo.timeout(self.step_timeout):
            await self.deliveries.release(delivery.key, self.owner, delivery.attempts - 1)

    async def _deliverable(
        self, delivery: DeliveryInDB, subscription: SubscriptionInDB | None
    ) -> bool:
        """Whether to attempt a claimed delivery now: not when its subscription was
        deleted (it goes too), is paused (it is held for the resume), or has its
        circuit open (it waits, out of the line, until the circuit's time is up)."""
        with pymongo.timeout(self.step_timeout):
            if subscription is None:
                # Deleted while this was being claimed: its deliveries go with it.
                await self.deliveries.delete({"_id": delivery.key})
                return False
            if subscription.status is SubscriptionStatus.PAUSED:
                await self.deliveries.hold(delivery.key, self.owner)  # kept for the resume
                return False
            until = subscription.circuit_open_until
            if until is not None and self.clock() < until:
                await self.deliveries.defer(delivery.key, self.owner, until, delivery.attempts - 1)
                return False
        return True

    async def _count(self, subscription: SubscriptionInDB, outcome: Outcome) -> SubscriptionInDB:
        """The subscription as this attempt leaves it: a success ends its runs of failures
        (written by `_delivered`); a failure with no answer that counts (a timeout, an
        error, a 429 or 5xx: the endpoint in trouble, not one refusing the event) is one
        more in a row, and opens its circuit after MONGOSHOP_WEBHOOK_CIRCUIT_FAILURES of
        them: a dead endpoint then costs a few timeouts per circuit period, not one per
        delivery."""
        if outcome.delivered:
            return subscription.model_copy(
                update={"consecutive_dead": 0, "failed_attempts": 0, "circuit_open_until": None}
            )
        if not outcome.retryable:
            return subscription
        now = self.clock()
        until = await self.subscriptions.record_failed_attempt(
            subscription.id, now, self.circuit_failures, self.circuit_open_for
        )
        if until is None:
            return subscription
        logger.warning(
            "webhook subscription %s: %d attempts failed in a row; none until %s",
            subscription.id,
            self.circuit_failures,
            until.isoformat(timespec="seconds"),
        )
        return subscription.model_copy(update={"circuit_open_until": until})

    async def _attempt(self, delivery: DeliveryInDB, subscription: SubscriptionInDB) -> Outcome:
        """Sign and POST one delivery. Whatever goes wrong on the way is this delivery's
        failed attempt (recorded, retried, in the end dead and redrivable), never the end
        of the deliverer: a receiver's hostile answer must not stop every other one."""
        try:
            body = canonical_body(delivery.event.model_dump(mode="json"))
            timestamp = int(self.clock().timestamp())
            headers = signed_headers(
                subscription.secret, delivery.event.id, delivery.event.type.value, timestamp, body
            )
            target = parse_target(subscription.url, require_https=self.require_https)
        except ValidationFailed as exc:  # a URL saved before a rule got stricter
            return Outcome(0.0, error=f"refused: {exc}")
        except Exception as exc:
            logger.exception("webhook delivery %s could not be prepared", delivery.key)
            return Outcome(0.0, error=f"unexpected error: {type(exc).__name__}")
        try:
            return await self.client.post(target, body, headers)
        except Exception as exc:  # the client turns what it knows into outcomes
            logger.exception("webhook delivery %s failed unexpectedly", delivery.key)
            return Outcome(0.0, error=f"unexpected error: {type(exc).__name__}")

    async def _record_safely(
        self, delivery: DeliveryInDB, subscription: SubscriptionInDB, outcome: Outcome
    ) -> Outcome:
        """Record the attempt; the outcome recorded. If recording it fails in a way no rule
        foresaw (not the database's trouble), it is recorded as an unexpected failed
        attempt instead: the delivery is retried and can die and be redriven, rather
        than be claimed again after each lease, for ever, with nothing recorded."""
        try:
            await self._record(delivery, subscription, outcome)
            return outcome
        except PyMongoError:
            raise
        except Exception as exc:
            raise_if_cancelled()
            logger.exception("webhook delivery %s could not be recorded", delivery.key)
            failed = Outcome(outcome.duration, error=f"unexpected error: {type(exc).__name__}")
            await self._record(delivery, subscription, failed)
            return failed

    async def _record(
        self, delivery: DeliveryInDB, subscription: SubscriptionInDB, outcome: Outcome
    ) -> None:
        now = self.clock()
        attempt = Attempt(
            at=now,
            status_code=outcome.status_code,
            duration_ms=round(outcome.duration * 1000),
            error=outcome.error,
        )
        if outcome.delivered:
            await self._delivered(delivery, subscription, attempt)
        elif outcome.retryable and delivery.attempts < self.max_attempts:
            delay = self.backoff(delivery.attempts, outcome.retry_after)
            self._observe("retry", outcome.duration)
            say({"mongoshop.outcome": "retry", "mongoshop.webhook.retry_in_s": round(delay, 3)})
            logger.warning(
                "webhook %s to %s failed (attempt %d, retry in %.1f s): %s",
                delivery.event.id,
                delivery.subscription_id,
                delivery.attempts,
                delay,
                outcome.error,
            )
            if not await self.deliveries.mark_retry(
                delivery.key, self.owner, attempt, now + timedelta(seconds=delay)
            ):
                logger.error("lease on webhook delivery %s was lost", delivery.key)
        else:
            await self._dead(delivery, attempt, outcome)

    async def _delivered(
        self, delivery: DeliveryInDB, subscription: SubscriptionInDB, attempt: Attempt
    ) -> None:
        self._observe("delivered", attempt.duration_ms / 1000)
        say({"mongoshop.outcome": "delivered"})
        if self.observer is not None:
            latency = (attempt.at - delivery.event.created_at).total_seconds()
            self.observer.observe_webhook_delivered(max(latency, 0.0))
        if not await self.deliveries.mark_delivered(
            delivery.key, self.owner, attempt, attempt.at + self.retention
        ):
            logger.error(
                "lease on webhook delivery %s was lost while delivering; it may be delivered again",
                delivery.key,
            )
        # A write only when the run of deaths was not 0 as read before the attempt (it
        # nearly always is: one round trip less per delivery). A death another deliverer
        # records during this attempt then keeps its count: a pause can come one death early.
        if subscription.consecutive_dead > 0 or subscription.failed_attempts > 0:
            await self.subscriptions.record_success(delivery.subscription_id)
        await self.deliveries.wake_successors(delivery, attempt.at)
        logger.info("webhook %s delivered to %s", delivery.event.id, delivery.subscription_id)

    async def _dead(self, delivery: DeliveryInDB, attempt: Attempt, outcome: Outcome) -> None:
        self._observe("dead", outcome.duration)
        say({"mongoshop.outcome": "dead"})
        why = "refused by the receiver" if not outcome.retryable else "out of attempts"
        logger.error(
            "webhook delivery %s dead after %d attempt(s), %s: %s",
            delivery.key,
            delivery.attempts,
            why,
            outcome.error,
        )
        if not await self.deliveries.mark_dead(delivery.key, self.owner, attempt):
            logger.error("lease on webhook delivery %s was lost", delivery.key)
            return
        await self.deliveries.wake_successors(delivery, attempt.at)
        in_a_row = await self.subscriptions.record_dead(delivery.subscription_id)
        if in_a_row >= self.pause_after:
            reason = AUTO_PAUSE_REASON.format(count=in_a_row, error=outcome.error)
            if await self.subscriptions.pause(
                delivery.subscription_id, reason, attempt.at, if_failing=self.pause_after
            ):
                logger.error("webhook subscription %s %s", delivery.subscription_id, reason)

    def _observe(self, result: str, seconds: float) -> None:
        if self.observer is not None:
            self.observer.observe_webhook_attempt(result, seconds)
