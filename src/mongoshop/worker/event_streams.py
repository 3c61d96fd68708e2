"""The worker's change streams: one per collection that something reacts to.

Users and orders feed both the mail (welcome, order confirmation:
`AsyncMailService`) and the webhooks (`AsyncWebhookEvents`); products and ledger
entries feed the webhooks. Each collection is
watched once (`shared_stream`), filtered on the server to the changes that
can make an e-mail or an event, so the server reads its changes and looks
each changed document up once, whatever reacts to it. The API's cache
invalidation keeps its own stream (`mongoshop.api.caches`): it follows the
present, where these resume from their checkpoints, possibly far behind.
"""

from __future__ import annotations

from mongoshop._async.shop import AsyncShop
from mongoshop.models.orders import OrderInDB
from mongoshop.models.products import ProductInDB
from mongoshop.models.users import UserInDB
from mongoshop.models.wallet import LedgerEntryInDB
from mongoshop.streams.filters import CREDITS, NEW_OR_VERIFIED_USERS, PLACED_OR_CANCELLED_ORDERS
from mongoshop.worker.reactions import Reaction, shared_stream
from mongoshop.worker.streams import StreamSpec

USERS_STREAM = "users"
ORDERS_STREAM = "orders"
PRODUCTS_STREAM = "products"
LEDGER_STREAM = "ledger"
EVENT_STREAMS = (USERS_STREAM, ORDERS_STREAM, PRODUCTS_STREAM, LEDGER_STREAM)


def event_streams(shop: AsyncShop) -> list[StreamSpec]:
    repositories = shop.repositories
    mail, events = shop.mail, shop.webhook_events
    welcomes = Reaction[UserInDB](mail.welcome_all, mail.reconcile_welcomes)
    confirmations = Reaction[OrderInDB](mail.confirm_placed, mail.reconcile_order_confirmations)
    registrations = Reaction[UserInDB](events.tell_users, events.reconcile_users)
    order_events = Reaction[OrderInDB](events.tell_orders, events.reconcile_orders)
    stock_events = Reaction[ProductInDB](events.tell_products)
    credit_events = Reaction[LedgerEntryInDB](events.tell_credits)
    return [
        shared_stream(
            USERS_STREAM,
            repositories.users.collection,
            UserInDB,
            [welcomes, registrations],
            operations=("insert", "update"),
            # The server filters, then looks the user up.
            match=NEW_OR_VERIFIED_USERS,
            full_document="updateLookup",
            formerly=("users-mail", "webhooks-users"),
        ),
        shared_stream(
            ORDERS_STREAM,
            repositories.orders.collection,
            OrderInDB,
            [confirmations, order_events],
            operations=("insert", "update"),
            match=PLACED_OR_CANCELLED_ORDERS,
            full_document="updateLookup",
            formerly=("orders-mail", "webhooks-orders"),
        ),
        shared_stream(
            PRODUCTS_STREAM,
            repositories.products.collection,
            ProductInDB,
            [stock_events],
            operations=("update", "replace"),
            full_document="updateLookup",
            full_document_before_change="whenAvailable",
            formerly=("webhooks-products",),
        ),
        shared_stream(
            LEDGER_STREAM,
            repositories.ledger.collection,
            LedgerEntryInDB,
            [credit_events],
            operations=("insert",),
            match=CREDITS,
            formerly=("webhooks-ledger",),
        ),
    ]
