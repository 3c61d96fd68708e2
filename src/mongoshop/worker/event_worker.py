"""The event worker: change streams (`event_streams`, one per collection) feed the mail
outbox and the webhook deliveries; senders and deliverers (MONGOSHOP_MAIL_SENDERS,
MONGOSHOP_WEBHOOK_DELIVERERS) drain them.

``mongoshop worker`` runs it alone; ``mongoshop serve`` runs it in-process
unless ``--no-worker`` is given.
"""

from __future__ import annotations

import asyncio
import logging

from mongoshop._async.shop import AsyncShop
from mongoshop.mail.transport import MailTransport, transport_for
from mongoshop.observability.tracing import instrument_http_client
from mongoshop.webhooks.client import WebhookClient
from mongoshop.webhooks.in_flight import InFlight
from mongoshop.webhooks.targets import AsyncResolver, async_system_resolver
from mongoshop.worker.chores import Chore
from mongoshop.worker.event_streams import event_streams
from mongoshop.worker.graceful import STOP_GRACE_SECONDS, stop_loops
from mongoshop.worker.mail_sender import OutboxSender
from mongoshop.worker.streams import StreamConsumer
from mongoshop.worker.supervision import Supervisor
from mongoshop.worker.webhook_deliverer import DeliveryObserver, WebhookDeliverer

logger = logging.getLogger(__name__)

EXPIRY_SECONDS = 60.0
"""How often the worker deletes the unconfirmed accounts whose code has expired."""


class EventWorker:
    def __init__(
        self,
        shop: AsyncShop,
        transport: MailTransport | None = None,
        *,
        observer: DeliveryObserver | None = None,
        resolver: AsyncResolver = async_system_resolver,
    ) -> None:
        """`observer`: the metrics of webhook deliveries; `resolver`: how webhook hosts are
        looked up at delivery time (the system's; a test makes one resolve elsewhere)."""
        self.shop = shop
        checkpoints = shop.repositories.checkpoints
        self.consumers = [
            StreamConsumer(spec, checkpoints, step_timeout=shop.settings.operation_timeout_seconds)
            for spec in event_streams(shop)
        ]
        settings = shop.settings
        self.webhook_client = WebhookClient(
            timeout=settings.webhook_timeout_seconds,
            resolver=resolver,
            allow_private=settings.webhook_allow_private_targets,
        )
        instrument_http_client(self.webhook_client.http)
        # Several of each, so that one slow SMTP answer or one receiver that hangs holds
        # one claim, not the queue; the first of each also runs its queue's chores (the
        # sweep, the release of held deliveries), which need no more than one per worker.
        in_flight = InFlight(settings.webhook_per_subscription, total=settings.webhook_deliverers)
        self.deliverers = [
            WebhookDeliverer(
                shop.repositories.webhook_subscriptions,
                shop.repositories.webhook_deliveries,
                self.webhook_client,
                settings,
                observer=observer,
                chores=number == 0,
                in_flight=in_flight,
            )
            for number in range(settings.webhook_deliverers)
        ]
        mail_transport = transport or transport_for(settings)
        self.senders = [
            OutboxSender(shop.repositories.outbox, mail_transport, settings, chores=number == 0)
            for number in range(settings.mail_senders)
        ]
        self.chores = [Chore("account-expiry", EXPIRY_SECONDS, shop.users.expire_unconfirmed)]
        self._tasks: list[asyncio.Task[None]] = []
        self.supervisor = Supervisor()
        """The loops, each restarted if it ends unexpectedly (`/metrics` shows them)."""

    async def start(self) -> None:
        """Start the streams and the sender in the background; returns once streams are open."""
        start = self.supervisor.start
        for consumer in self.consumers:
            self._tasks.append(start(consumer.spec.name, consumer.run, consumer.stop))
        for number, sender in enumerate(self.senders, 1):
            self._tasks.append(start(f"outbox-sender-{number}", sender.run, sender.stop))
        for number, deliverer in enumerate(self.deliverers, 1):
            self._tasks.append(start(f"webhook-deliverer-{number}", deliverer.run, deliverer.stop))
        for chore in self.chores:
            self._tasks.append(start(chore.name, chore.run, chore.stop))
        ready = [asyncio.create_task(consumer.ready.wait()) for consumer in self.consumers]
        await asyncio.wait(ready, timeout=30)
        for task in ready:
            task.cancel()
        logger.info("event worker started")

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Let each loop finish the event or message in hand, save the stream positions, stop.

        A loop still busy after `grace` seconds is cancelled; that loses nothing
        either (a checkpoint is saved after every handled event, a message's lease
        ends), it only means work done again after the restart.
        """
        stops = [consumer.stop for consumer in self.consumers]
        stops += [sender.stop for sender in self.senders]
        stops += [deliverer.stop for deliverer in self.deliverers]
        stops += [chore.stop for chore in self.chores]
        cancelled = await stop_loops(self._tasks, stops, grace)
        self._tasks.clear()
        await self.webhook_client.aclose()
        logger.info(
            "event worker stopped%s",
            f" ({cancelled} loop(s) cancelled)" if cancelled else ", stream positions saved",
        )
