"""Webhook subscriptions (what the admin API, CLI and dashboard manage) and the fan-out
of events to deliveries (what the worker's change streams call)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bson import ObjectId

from mongoshop._async.repositories.webhooks import (
    AsyncDeliveryRepository,
    AsyncSubscriptionRepository,
)
from mongoshop.clock import Clock, utcnow
from mongoshop.errors import Conflict, NotFound, ValidationFailed
from mongoshop.models.common import parse_object_id
from mongoshop.models.webhooks import (
    DeliveryList,
    DeliveryPublic,
    DeliveryStatus,
    EventType,
    RedriveResult,
    SubscriptionCreated,
    SubscriptionInDB,
    SubscriptionPublic,
    SubscriptionRequest,
    SubscriptionStatus,
    SubscriptionUpdate,
    WebhookCounts,
)
from mongoshop.webhooks.events import Occurrence
from mongoshop.webhooks.signing import new_secret
from mongoshop.webhooks.targets import (
    AsyncResolver,
    TargetRefused,
    check_addresses,
    ip_literal,
    parse_target,
)

logger = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS = 100
"""Every event is offered to every subscription to its type: a bound keeps that small."""
PAUSED_BY_ADMIN = "paused by an admin"


class AsyncWebhookService:
    def __init__(
        self,
        subscriptions: AsyncSubscriptionRepository,
        deliveries: AsyncDeliveryRepository,
        *,
        resolver: AsyncResolver,
        require_https: bool,
        allow_private: bool,
        clock: Clock = utcnow,
    ) -> None:
        """`require_https` (production) and `allow_private` (development only) decide
        which URLs a subscription may have; `resolver` is how host names are looked up."""
        self.subscriptions = subscriptions
        self.deliveries = deliveries
        self.resolver = resolver
        self.require_https = require_https
        self.allow_private = allow_private
        self.clock = clock

    async def check_url(self, url: str) -> str:
        """A URL deliveries may go to, or `ValidationFailed` saying why not.

        Where it resolves is checked now, to refuse a mistake at once; it is
        checked again at every delivery (`mongoshop.webhooks.targets`).
        """
        target = parse_target(url, require_https=self.require_https)
        try:
            addresses = (
                [target.host]
                if ip_literal(target.host)
                else await self.resolver(target.host, target.port)
            )
            check_addresses(target.host, addresses, allow_private=self.allow_private)
        except TargetRefused as exc:
            raise ValidationFailed(f"url: {exc}; webhooks go to public addresses only") from None
        except OSError:
            raise ValidationFailed(f"url: {target.host} does not resolve") from None
        return url

    async def create(self, request: SubscriptionRequest) -> SubscriptionCreated:
        """A new active subscription, with its secret (in this answer only)."""
        url = await self.check_url(request.url)
        if await self.subscriptions.count() >= MAX_SUBSCRIPTIONS:
            raise Conflict(f"at most {MAX_SUBSCRIPTIONS} webhook subscriptions; delete one first")
        secret = new_secret()
        created = await self.subscriptions.add(
            url, request.event_types, secret, request.description, self.clock()
        )
        logger.info(
            "webhook subscription %s created for %s", created.id, ",".join(created.event_types)
        )
        return SubscriptionCreated(**SubscriptionPublic.of(created).model_dump(), secret=secret)

    async def list_all(self) -> list[SubscriptionPublic]:
        return [
            SubscriptionPublic.of(s) for s in await self.subscriptions.newest(MAX_SUBSCRIPTIONS)
        ]

    async def _get(self, subscription_id: ObjectId | str) -> SubscriptionInDB:
        subscription = await self.subscriptions.find_by_id(parse_object_id(subscription_id))
        if subscription is None:
            raise NotFound(f"webhook subscription {subscription_id} not found")
        return subscription

    async def get(self, subscription_id: ObjectId | str) -> SubscriptionPublic:
        return SubscriptionPublic.of(await self._get(subscription_id))

    async def update(
        self, subscription_id: ObjectId | str, changes: SubscriptionUpdate
    ) -> SubscriptionPublic:
        """Change the URL, the events or the description; pause or resume."""
        subscription = await self._get(subscription_id)
        url = None if changes.url is None else await self.check_url(changes.url)
        await self.subscriptions.change(subscription.id, changes, url, self.clock())
        if changes.status is SubscriptionStatus.PAUSED:
            await self.pause(subscription.id)
        elif changes.status is SubscriptionStatus.ACTIVE:
            await self.resume(subscription.id)
        return await self.get(subscription.id)

    async def pause(self, subscription_id: ObjectId | str, reason: str = PAUSED_BY_ADMIN) -> None:
        """Stop delivering to it: its deliveries are held (new ones too) until it resumes."""
        subscription = await self._get(subscription_id)
        await self.subscriptions.pause(subscription.id, reason, self.clock())

    async def resume(self, subscription_id: ObjectId | str) -> int:
        """Deliver again: its held deliveries are due now, in order; how many."""
        subscription = await self._get(subscription_id)
        now = self.clock()
        await self.subscriptions.resume(subscription.id, now)
        return await self.deliveries.release_held([subscription.id])

    async def delete(self, subscription_id: ObjectId | str) -> None:
        """Remove it, and every delivery to it (pending ones are never sent)."""
        subscription = await self._get(subscription_id)
        await self.subscriptions.delete_by_id(subscription.id)
        await self.deliveries.delete_for_subscription(subscription.id)

    async def deliveries_of(
        self,
        subscription_id: ObjectId | str,
        *,
        status: DeliveryStatus | None = None,
        after: str | None = None,
        limit: int = 20,
    ) -> DeliveryList:
        """A subscription's deliveries with their attempts, newest first (keyset pages)."""
        subscription = await self._get(subscription_id)
        anchor = None
        if after is not None:
            found = await self.deliveries.by_key(after, subscription.id)
            if found is None:
                raise NotFound(f"delivery {after} not found: `after` must be an id from this list")
            anchor = (found.created_at, found.key)
        items = await self.deliveries.for_subscription(
            subscription.id, status=status, after=anchor, limit=limit + 1, now=self.clock()
        )
        shown = items[:limit]
        more = len(items) > limit and bool(shown)
        return DeliveryList(
            items=[DeliveryPublic.of(d) for d in shown],
            next_after=shown[-1].key if more else None,
        )

    async def delivery(self, key: str) -> DeliveryPublic:
        found = await self.deliveries.by_key(key)
        if found is None:
            raise NotFound(f"delivery {key} not found")
        return DeliveryPublic.of(found)

    async def newest_dead(self, limit: int = 20) -> list[DeliveryPublic]:
        return [DeliveryPublic.of(d) for d in await self.deliveries.newest_dead(limit)]

    async def redrive(self, key: str) -> DeliveryPublic:
        """Give a dead delivery a new round of attempts (Conflict: it is not dead)."""
        current = await self.delivery(key)
        if not await self.deliveries.redrive(key):
            raise Conflict(
                f"delivery {key} is {current.status.value}, not dead: nothing to redrive"
            )
        # An admin asks for an attempt now: its subscription's circuit, if open, closes.
        await self.subscriptions.close_circuit(ObjectId(current.subscription_id))
        logger.info("webhook delivery %s redriven", key)
        return await self.delivery(key)

    async def redrive_dead(self, subscription_id: ObjectId | str) -> RedriveResult:
        subscription = await self._get(subscription_id)
        count = await self.deliveries.redrive_dead(subscription.id)
        await self.subscriptions.close_circuit(subscription.id)
        logger.info("%d dead webhook deliveries of %s redriven", count, subscription.id)
        return RedriveResult(redriven=count)

    async def publish(self, occurrences: Sequence[Occurrence]) -> int:
        """One delivery per (event, subscription to its type); how many were new.

        Called by the worker's change streams for committed changes only. A
        subscription created after the event does not get it. The delivery key
        is the event id and the subscription's: the same change seen again (a
        restarted or second worker) adds nothing.
        """
        deliveries: list[tuple[Occurrence, ObjectId]] = []
        subscribers: dict[EventType, list[SubscriptionInDB]] = {}
        for occurrence in occurrences:
            event = occurrence.event
            if event.type not in subscribers:  # one read per type of event in the batch
                subscribers[event.type] = await self.subscriptions.subscribed_to(event.type)
            deliveries += [
                (occurrence, subscription.id)
                for subscription in subscribers[event.type]
                if subscription.created_at <= event.created_at
            ]
        return await self.deliveries.enqueue_for(deliveries, self.clock())

    async def release_held(self) -> int:
        """Held deliveries of active subscriptions become due (a resume that raced with a
        pause leaves some); how many. The deliverer runs it now and then."""
        return await self.deliveries.release_held(await self.subscriptions.active_ids())

    async def counts(self) -> WebhookCounts:
        """Deliveries that need looking at, by status, through the status index."""
        return WebhookCounts(
            pending=await self.deliveries.count_status(DeliveryStatus.PENDING),
            held=await self.deliveries.count_status(DeliveryStatus.HELD),
            dead=await self.deliveries.count_status(DeliveryStatus.DEAD),
            paused_subscriptions=await self.subscriptions.count_paused(),
            subscriptions=await self.subscriptions.count(),
        )
