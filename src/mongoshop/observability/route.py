"""`GET /metrics`: Prometheus text format, for a scraper rather than for API clients.

Open by default, as scrapers usually reach it on an internal network; with
MONGOSHOP_METRICS_TOKEN set, it wants ``Authorization: Bearer <token>``.
MONGOSHOP_METRICS_ENABLED=false leaves it out of the app. Not in the OpenAPI schema.

Mounted by the API and by a worker deployed alone (`mongoshop.worker.metrics_server`):
it needs of its app only what `MetricsSource` says, so a worker that serves it does
not load the API.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST

from mongoshop.errors import AuthenticationFailed
from mongoshop.models.mail import OutboxCounts
from mongoshop.models.webhooks import WebhookCounts
from mongoshop.observability.metrics import Metrics
from mongoshop.settings import Settings

router = APIRouter(include_in_schema=False)

_bearer = HTTPBearer(auto_error=False)


class OutboxCounter(Protocol):
    async def counts(self) -> OutboxCounts: ...


class WebhookCounter(Protocol):
    async def counts(self) -> WebhookCounts: ...


class MetricsSource(Protocol):
    """What `/metrics` reads from its app's `state.shop` (an `AsyncShop`)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def mail(self) -> OutboxCounter: ...

    @property
    def webhooks(self) -> WebhookCounter: ...


def metrics_source(request: Request) -> MetricsSource:
    source: MetricsSource = request.app.state.shop
    return source


Source = Annotated[MetricsSource, Depends(metrics_source)]


async def metrics_access(
    shop: Source,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Nothing to check without a configured token; else the bearer must match it."""
    expected = shop.settings.metrics_token
    if expected is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise AuthenticationFailed("GET /metrics needs Authorization: Bearer <metrics token>")


@router.get("/metrics", dependencies=[Depends(metrics_access)])
async def metrics(request: Request, shop: Source) -> Response:
    """Request, database, outbox, webhook and change-stream metrics (queues counted now)."""
    registry: Metrics = request.app.state.metrics
    await registry.refresh_outbox(shop.mail.counts)
    await registry.refresh_webhooks(shop.webhooks.counts)
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
