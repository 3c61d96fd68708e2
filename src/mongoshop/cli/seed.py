"""`mongoshop seed`: deterministic demo data (`mongoshop.seeding`), a progress bar per stage."""

from __future__ import annotations

from typing import Annotated

import typer

from mongoshop.cli.common import console, open_shop, seed_with_bars, settings_from_env


def seed(
    users: Annotated[int, typer.Option(min=0, max=1_000_000, help="How many users")] = 100,
    products: Annotated[int, typer.Option(min=0, max=10_000_000, help="How many products")] = 60,
    orders: Annotated[int, typer.Option(min=0, max=1_000_000, help="How many orders")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data")] = 1,
    welcome: Annotated[
        bool,
        typer.Option(
            "--welcome/--no-welcome",
            help="Send each seeded user the welcome e-mail (off: bulk-made accounts get none)",
        ),
    ] = False,
) -> None:
    """Add deterministic demo data: users with funded wallets, products, and orders
    spread over the last six months. Safe to run twice: nothing is duplicated.
    Seeded users get no welcome e-mail unless --welcome (orders still get their
    confirmations: they are what the worker's pipeline is for).

    Examples:
      mongoshop seed
      mongoshop seed --users 1000 --products 500 --orders 2000 --seed 7
      mongoshop seed --users 50 --welcome
    """
    with open_shop(settings_from_env()) as shop:
        report = seed_with_bars(
            shop, users=users, products=products, orders=orders, seed=seed, welcome=welcome
        )
    for line in report.lines():
        console.print(line)
