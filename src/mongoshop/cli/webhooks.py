"""`mongoshop webhooks`: subscriptions of other systems to the shop's events."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Column, Table

from mongoshop.cli.common import console, open_shop, settings_from_env
from mongoshop.errors import ValidationFailed
from mongoshop.models.webhooks import (
    MAX_DELIVERY_PAGE,
    DeliveryStatus,
    EventType,
    SubscriptionRequest,
)
from mongoshop.validation import describe_errors

DELIVERY_ID_LENGTH = 61
"""``evt_`` + 32 hexadecimal digits, a dot, and a subscription's 24."""

app = typer.Typer(
    help="Webhooks: signed HTTP POSTs of the shop's events to other systems.",
    no_args_is_help=True,
)


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="Where to POST (https; http outside production)")],
    event: Annotated[
        list[EventType],
        typer.Option("--event", "-e", help="An event type to send (repeat for several)"),
    ],
    description: Annotated[str | None, typer.Option(help="What this endpoint is")] = None,
) -> None:
    """Subscribe a URL to events; prints its signing secret, which is shown this once.

    Example: mongoshop webhooks add https://erp.example/hooks -e order.placed -e order.cancelled
    """
    try:
        request = SubscriptionRequest(url=url, event_types=event, description=description)
    except ValidationError as exc:
        raise ValidationFailed(describe_errors(exc.errors(include_url=False))) from None
    with open_shop(settings_from_env()) as shop:
        created = shop.webhooks.create(request)
    console.print(f"subscription {created.id} to {', '.join(created.event_types)}")
    console.print("signing secret (shown once, keep it with the receiver):")
    console.print(created.secret, markup=False, highlight=False)


@app.command("list")
def list_subscriptions() -> None:
    """Every subscription: its URL, events, status and deliveries dead in a row."""
    with open_shop(settings_from_env()) as shop:
        subscriptions = shop.webhooks.list_all()
    table = Table(Column("id", no_wrap=True), "url", "events", "status", "dead in a row")
    for s in subscriptions:
        status = (
            s.status.value if s.paused_reason is None else f"{s.status.value}: {s.paused_reason}"
        )
        table.add_row(
            s.id, escape(s.url), ", ".join(s.event_types), escape(status), str(s.consecutive_dead)
        )
    console.print(table)


@app.command("pause")
def pause(subscription: Annotated[str, typer.Argument(help="Subscription id")]) -> None:
    """Stop delivering to a subscription; its events are kept until it resumes."""
    with open_shop(settings_from_env()) as shop:
        shop.webhooks.pause(subscription)
    console.print(f"subscription {escape(subscription)} paused")


@app.command("resume")
def resume(subscription: Annotated[str, typer.Argument(help="Subscription id")]) -> None:
    """Deliver again, starting with the events kept while it was paused."""
    with open_shop(settings_from_env()) as shop:
        released = shop.webhooks.resume(subscription)
    console.print(f"subscription {escape(subscription)} active; {released} held event(s) due now")


@app.command("remove")
def remove(
    subscription: Annotated[str, typer.Argument(help="Subscription id")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False,
) -> None:
    """Delete a subscription and its deliveries (pending ones are never sent)."""
    if not yes:
        typer.confirm(f"delete subscription {subscription} and its deliveries?", abort=True)
    with open_shop(settings_from_env()) as shop:
        shop.webhooks.delete(subscription)
    console.print(f"subscription {escape(subscription)} deleted")


@app.command("deliveries")
def deliveries(
    subscription: Annotated[str, typer.Argument(help="Subscription id")],
    status: Annotated[DeliveryStatus | None, typer.Option(help="Only these")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_DELIVERY_PAGE)] = 20,
) -> None:
    """A subscription's latest deliveries, with their last attempt."""
    with open_shop(settings_from_env()) as shop:
        page = shop.webhooks.deliveries_of(subscription, status=status, limit=limit)
    # The id is what `webhooks redrive` takes: whole, never wrapped, even on a narrow terminal.
    delivery_id = Column("delivery", no_wrap=True, min_width=DELIVERY_ID_LENGTH)
    table = Table(delivery_id, "event", "status", "attempts", "last answer")
    for d in page.items:
        last = d.history[-1] if d.history else None
        answer = "" if last is None else (last.error or f"HTTP {last.status_code}")
        table.add_row(d.id, d.event_type.value, d.status.value, str(d.attempts), escape(answer))
    console.print(table)


@app.command("redrive")
def redrive(
    delivery: Annotated[
        str | None, typer.Argument(help="A dead delivery's id (see `webhooks deliveries`)")
    ] = None,
    subscription: Annotated[
        str | None, typer.Option(help="Instead: every dead delivery of this subscription")
    ] = None,
) -> None:
    """Give dead deliveries a new round of attempts.

    Examples:
      mongoshop webhooks redrive evt_3f…0a.6650…e1
      mongoshop webhooks redrive --subscription 6650…e1
    """
    if (delivery is None) == (subscription is None):
        raise ValidationFailed("name one dead delivery, or --subscription for all of its dead ones")
    with open_shop(settings_from_env()) as shop:
        if delivery is not None:
            shop.webhooks.redrive(delivery)
            console.print(f"delivery {escape(delivery)} will be tried again now")
        else:
            assert subscription is not None
            result = shop.webhooks.redrive_dead(subscription)
            console.print(f"{result.redriven} dead delivery(ies) will be tried again now")
