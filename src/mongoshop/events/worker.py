"""The event worker: change streams feed the mail outbox and the webhook deliveries;
a sender and a deliverer drain them.

``mongoshop worker`` runs it alone; ``mongoshop serve`` runs it in-process
unless ``--no-worker`` is given.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from mongoshop._async.shop import AsyncShop
from mongoshop.events.webhook_streams import webhook_streams
from mongoshop.mail.sender import OutboxSender
from mongoshop.mail.transport import MailTransport, transport_for
from mongoshop.streams.consumer import StreamConsumer, StreamSpec
from mongoshop.streams.graceful import STOP_GRACE_SECONDS, stop_loops
from mongoshop.webhooks.client import WebhookClient
from mongoshop.webhooks.deliverer import DeliveryObserver, WebhookDeliverer
from mongoshop.webhooks.targets import AsyncResolver, async_system_resolver
from mongoshop.worker.supervision import Supervisor

logger = logging.getLogger(__name__)

USERS_STREAM = "users-mail"
ORDERS_STREAM = "orders-mail"


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
        mail = shop.mail
        checkpoints = shop.repositories.checkpoints

        async def on_user(change: Mapping[str, Any]) -> None:
            await mail.welcome_if_verified(change)

        async def on_order(change: Mapping[str, Any]) -> None:
            await mail.order_confirmation(change["fullDocument"])

        self.consumers = [
            StreamConsumer(
                StreamSpec(
                    name=USERS_STREAM,
                    collection=shop.repositories.users.collection,
                    operations=("insert", "update"),
                    # New users, and the verification of a self-registered one (not every
                    # sign-in's login count): the server filters, then looks the user up.
                    match={
                        "$or": [
                            {"operationType": "insert"},
                            {
                                "operationType": "update",
                                "updateDescription.updatedFields.email_verified": True,
                            },
                        ]
                    },
                    full_document="updateLookup",
                    handler=on_user,
                    reconcile=mail.reconcile_welcomes,
                ),
                checkpoints,
                step_timeout=shop.settings.operation_timeout_seconds,
            ),
            StreamConsumer(
                StreamSpec(
                    name=ORDERS_STREAM,
                    collection=shop.repositories.orders.collection,
                    operations=("insert",),
                    handler=on_order,
                    reconcile=mail.reconcile_order_confirmations,
                ),
                checkpoints,
                step_timeout=shop.settings.operation_timeout_seconds,
            ),
        ]
        self.consumers += [
            StreamConsumer(spec, checkpoints, step_timeout=shop.settings.operation_timeout_seconds)
            for spec in webhook_streams(shop)
        ]
        settings = shop.settings
        self.webhook_client = WebhookClient(
            timeout=settings.webhook_timeout_seconds,
            resolver=resolver,
            allow_private=settings.webhook_allow_private_targets,
        )
        self.deliverer = WebhookDeliverer(
            shop.repositories.webhook_subscriptions,
            shop.repositories.webhook_deliveries,
            self.webhook_client,
            settings,
            observer=observer,
        )
        self.sender = OutboxSender(
            shop.repositories.outbox, transport or transport_for(shop.settings), shop.settings
        )
        self._tasks: list[asyncio.Task[None]] = []
        self.supervisor = Supervisor()
        """The loops, each restarted if it ends unexpectedly (`/metrics` shows them)."""

    async def start(self) -> None:
        """Start the streams and the sender in the background; returns once streams are open."""
        start = self.supervisor.start
        for consumer in self.consumers:
            self._tasks.append(start(consumer.spec.name, consumer.run, consumer.stop))
        self._tasks.append(start("outbox-sender", self.sender.run, self.sender.stop))
        self._tasks.append(start("webhook-deliverer", self.deliverer.run, self.deliverer.stop))
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
        stops += [self.sender.stop, self.deliverer.stop]
        cancelled = await stop_loops(self._tasks, stops, grace)
        self._tasks.clear()
        await self.webhook_client.aclose()
        logger.info(
            "event worker stopped%s",
            f" ({cancelled} loop(s) cancelled)" if cancelled else ", stream positions saved",
        )
