"""`AsyncShop`: every repository and service over one database, wired once.

`mongoshop.bootstrap` (the composition root) builds it from settings for the
API, the worker and the CLI; the tests build it over their own database.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from mongoshop._async.compat import Background
from mongoshop._async.declarations import AsyncDeclarations
from mongoshop._async.repositories.base import AsyncRepository
from mongoshop._async.repositories.checkpoints import AsyncCheckpointRepository
from mongoshop._async.repositories.figures import AsyncFigureRepository
from mongoshop._async.repositories.login_attempts import AsyncLoginAttemptRepository
from mongoshop._async.repositories.orders import AsyncOrderRepository
from mongoshop._async.repositories.outbox import AsyncOutboxRepository
from mongoshop._async.repositories.products import AsyncProductRepository
from mongoshop._async.repositories.schema import AsyncSchemaRepository
from mongoshop._async.repositories.tokens import AsyncTokenRepository
from mongoshop._async.repositories.transfers import AsyncTransferRepository
from mongoshop._async.repositories.users import AsyncUserRepository
from mongoshop._async.repositories.verifications import AsyncVerificationRepository
from mongoshop._async.repositories.wallet import AsyncAccountRepository, AsyncLedgerRepository
from mongoshop._async.repositories.webhooks import (
    AsyncDeliveryRepository,
    AsyncSubscriptionRepository,
)
from mongoshop._async.services.analytics import AsyncAnalyticsService
from mongoshop._async.services.auth import AsyncAuthService
from mongoshop._async.services.catalog import AsyncCatalogService
from mongoshop._async.services.mail import AsyncMailService
from mongoshop._async.services.orders import AsyncOrderService
from mongoshop._async.services.throttle import AsyncLoginThrottle
from mongoshop._async.services.users import AsyncUserService
from mongoshop._async.services.wallet import AsyncWalletService
from mongoshop._async.services.webhook_events import AsyncWebhookEvents
from mongoshop._async.services.webhooks import AsyncWebhookService
from mongoshop._async.transactions import AsyncTransactions
from mongoshop.cache import ShopCaches
from mongoshop.clock import Clock, utcnow
from mongoshop.errors import NotFound
from mongoshop.models.common import Document
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings
from mongoshop.webhooks.targets import AsyncResolver, async_system_resolver


@dataclass(frozen=True)
class AsyncRepositories:
    """Every collection's repository: what the services are built on, and what the
    infrastructure reads or watches directly (change streams, the API's caches, the
    CLI's export and indexes, the tests). Application code calls the services."""

    users: AsyncUserRepository
    tokens: AsyncTokenRepository
    products: AsyncProductRepository
    accounts: AsyncAccountRepository
    ledger: AsyncLedgerRepository
    transfers: AsyncTransferRepository
    orders: AsyncOrderRepository
    outbox: AsyncOutboxRepository
    checkpoints: AsyncCheckpointRepository
    figures: AsyncFigureRepository
    login_attempts: AsyncLoginAttemptRepository
    verifications: AsyncVerificationRepository
    schema: AsyncSchemaRepository
    webhook_subscriptions: AsyncSubscriptionRepository
    webhook_deliveries: AsyncDeliveryRepository

    @classmethod
    def over(cls, database: AsyncDatabase[Document]) -> AsyncRepositories:
        return cls(
            users=AsyncUserRepository(database),
            tokens=AsyncTokenRepository(database),
            products=AsyncProductRepository(database),
            accounts=AsyncAccountRepository(database),
            ledger=AsyncLedgerRepository(database),
            transfers=AsyncTransferRepository(database),
            orders=AsyncOrderRepository(database),
            outbox=AsyncOutboxRepository(database),
            checkpoints=AsyncCheckpointRepository(database),
            figures=AsyncFigureRepository(database),
            login_attempts=AsyncLoginAttemptRepository(database),
            verifications=AsyncVerificationRepository(database),
            schema=AsyncSchemaRepository(database),
            webhook_subscriptions=AsyncSubscriptionRepository(database),
            webhook_deliveries=AsyncDeliveryRepository(database),
        )

    def all(self) -> list[AsyncRepository[Any]]:
        return [getattr(self, field.name) for field in fields(self)]


NO_CACHES = ShopCaches()


@dataclass(frozen=True)
class _Wiring:
    """What the services are built from, and one small builder per service: the shop's
    constructor reads as the list of its services."""

    repositories: AsyncRepositories
    settings: Settings
    hasher: PasswordHasher
    caches: ShopCaches
    clock: Clock
    background: Background
    transactions: AsyncTransactions

    @property
    def secret(self) -> str:
        return self.settings.token_secret.get_secret_value()

    def throttle(self, purpose: str, per_email: int, per_client: int) -> AsyncLoginThrottle:
        return AsyncLoginThrottle(
            self.repositories.login_attempts,
            secret=self.secret,
            max_per_email=per_email,
            max_per_client=per_client,
            window=timedelta(seconds=self.settings.login_window_seconds),
            purpose=purpose,
            clock=self.clock,
        )

    def sign_in_throttle(self) -> AsyncLoginThrottle:
        settings = self.settings
        return self.throttle(
            "login", settings.login_max_failures, settings.login_max_failures_per_client
        )

    def users(self, sign_in_throttle: AsyncLoginThrottle) -> AsyncUserService:
        repositories, settings, caches = self.repositories, self.settings, self.caches
        return AsyncUserService(
            repositories.users,
            repositories.tokens,
            repositories.accounts,
            self.transactions,
            self.hasher,
            settings.currency,
            cache=caches.users,
            listings=caches.user_listings,
            background=self.background,
            verifications=repositories.verifications,
            outbox=repositories.outbox,
            ledger=repositories.ledger,
            secret=self.secret,
            verification_ttl=timedelta(seconds=settings.verification_ttl_seconds),
            registration_throttle=self.throttle(
                "register", settings.register_max_per_email, settings.register_max_per_client
            ),
            password_throttle=sign_in_throttle,
            verification_throttle=self.throttle(
                "verify", settings.login_max_failures, settings.login_max_failures_per_client
            ),
            clock=self.clock,
        )

    def auth(self, sign_in_throttle: AsyncLoginThrottle) -> AsyncAuthService:
        return AsyncAuthService(
            self.repositories.users,
            self.repositories.tokens,
            self.hasher,
            token_secret=self.secret,
            token_ttl=timedelta(seconds=self.settings.token_ttl_seconds),
            token_cache=self.caches.tokens,
            user_cache=self.caches.users,
            throttle=sign_in_throttle,
            clock=self.clock,
        )

    def catalog(self) -> AsyncCatalogService:
        return AsyncCatalogService(
            self.repositories.products,
            self.settings.currency,
            cache=self.caches.products,
            listings=self.caches.product_listings,
            background=self.background,
            clock=self.clock,
        )

    def wallet(self) -> AsyncWalletService:
        repositories = self.repositories
        return AsyncWalletService(
            repositories.accounts,
            repositories.ledger,
            repositories.transfers,
            self.transactions,
            self.settings.currency,
            clock=self.clock,
        )

    def orders(self, wallet: AsyncWalletService) -> AsyncOrderService:
        repositories = self.repositories
        return AsyncOrderService(
            repositories.orders,
            repositories.products,
            wallet,
            self.transactions,
            self.settings.currency,
            users=repositories.users,
            figures=repositories.figures,
            product_cache=self.caches.products,
            listings=self.caches.order_listings,
            background=self.background,
            cancel_window=timedelta(seconds=self.settings.cancel_window_seconds),
            clock=self.clock,
        )

    def mail(self) -> AsyncMailService:
        repositories = self.repositories
        return AsyncMailService(
            repositories.outbox,
            repositories.users,
            repositories.orders,
            totals=self.caches.outbox_totals,
            background=self.background,
            clock=self.clock,
        )

    def webhooks(self, resolver: AsyncResolver) -> AsyncWebhookService:
        return AsyncWebhookService(
            self.repositories.webhook_subscriptions,
            self.repositories.webhook_deliveries,
            resolver=resolver,
            require_https=self.settings.environment == "production",
            allow_private=self.settings.webhook_allow_private_targets,
            clock=self.clock,
        )

    def webhook_events(self, webhooks: AsyncWebhookService) -> AsyncWebhookEvents:
        repositories = self.repositories
        return AsyncWebhookEvents(
            webhooks, repositories.orders, repositories.users, repositories.accounts
        )

    def analytics(self) -> AsyncAnalyticsService:
        repositories = self.repositories
        return AsyncAnalyticsService(
            repositories.products,
            repositories.orders,
            self.settings.currency,
            users=repositories.users,
            figures=repositories.figures,
            refresh_seconds=self.settings.dashboard_refresh_seconds,
            background=self.background,
            clock=self.clock,
        )


class AsyncShop:
    def __init__(
        self,
        database: AsyncDatabase[Document],
        settings: Settings,
        *,
        hasher: PasswordHasher | None = None,
        caches: ShopCaches = NO_CACHES,
        clock: Clock = utcnow,
        resolver: AsyncResolver = async_system_resolver,
    ) -> None:
        """`caches`: only where change streams evict changed entries (the API).

        `clock`: what the sign-in and registration throttles tell the time with (a test
        moves it instead of waiting for a window to pass). `resolver`: how webhook host
        names are looked up (a test makes one resolve where it wants)."""
        self.database = database
        self.settings = settings
        self.repositories = AsyncRepositories.over(database)
        self.declarations = AsyncDeclarations(self.repositories.all(), self.repositories.schema)
        self.background = Background()
        """Work requests start and do not wait for: the dashboards' figures and the broad
        listings, recomputed while their last are served."""
        wiring = _Wiring(
            self.repositories,
            settings,
            hasher or PasswordHasher(),
            caches,
            clock,
            self.background,
            AsyncTransactions(database.client, timeout=settings.transaction_timeout_ms / 1000),
        )
        sign_in_throttle = wiring.sign_in_throttle()
        """One for the password sign-in and the password check of sensitive changes."""
        self.users = wiring.users(sign_in_throttle)
        self.auth = wiring.auth(sign_in_throttle)
        self.catalog = wiring.catalog()
        self.wallet = wiring.wallet()
        self.orders = wiring.orders(self.wallet)
        self.mail = wiring.mail()
        self.webhooks = wiring.webhooks(resolver)
        self.webhook_events = wiring.webhook_events(self.webhooks)
        self.analytics = wiring.analytics()

    def repository_named(self, collection: str) -> AsyncRepository[Any]:
        """The repository of a collection, by name; `NotFound` for any other name."""
        for repository in self.repositories.all():
            if repository.collection_name == collection:
                return repository
        names = ", ".join(sorted(r.collection_name for r in self.repositories.all()))
        raise NotFound(f"no collection {collection!r}; one of: {names}")

    async def ensure_indexes(self) -> dict[str, list[str]]:
        """Create the declared indexes that are missing (idempotent); the declared names
        present, per collection. Never drops or rebuilds one: see `indexes`."""
        return await self.declarations.create_missing()

    async def ping(self) -> bool:
        """True when the database answers; driver errors propagate to the caller."""
        await self.database.command("ping")
        return True

    async def bootstrap_admin(self) -> None:
        """Create the admin named by MONGOSHOP_ADMIN_EMAIL / _PASSWORD, if set."""
        if self.settings.admin_email and self.settings.admin_password:
            await self.users.create_admin(
                email=self.settings.admin_email,
                password=self.settings.admin_password.get_secret_value(),
            )
