"""`mongoshop seed`: deterministic demo data, in batches, with a progress bar."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from mongoshop._sync.shop import Shop
from mongoshop.cli.common import console, open_shop, settings_from_env
from mongoshop.demo import DEMO_PASSWORD, demo_user_fields


def seed_users(shop: Shop, count: int, seed: int) -> tuple[int, int]:
    """Insert `count` demo users with a progress bar; (inserted, already there)."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("users", total=count)
        return shop.users.add_demo_users(
            demo_user_fields(count, seed),
            password=DEMO_PASSWORD,
            on_batch=lambda n: progress.advance(task, n),
        )


def seed(
    users: Annotated[int, typer.Option(min=0, max=1_000_000, help="How many users")] = 100,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data")] = 1,
) -> None:
    """Add deterministic demo data. Safe to run twice: existing e-mails are skipped.

    Every seeded user's password is "demo-password".

    Examples:
      mongoshop seed --users 1000
      mongoshop seed --users 50 --seed 7
    """
    with open_shop(settings_from_env()) as shop:
        inserted, skipped = seed_users(shop, users, seed)
    console.print(
        f"users: {inserted} inserted, {skipped} already present"
        f" (password for all: {DEMO_PASSWORD!r})"
    )
