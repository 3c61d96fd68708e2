"""What every command shares: settings, a database on the sync face (`open_shop`), and output."""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress

from mongoshop._sync.shop import Shop
from mongoshop.bootstrap import open_shop
from mongoshop.seeding import SeedReport, seed_all
from mongoshop.settings import Settings, load_settings

console = Console()
err_console = Console(stderr=True)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so `with` blocks run and the embedded server is stopped.

    Uvicorn re-raises the signal that stopped it once it has shut down; with
    the default handler that would kill us before our clean-up.
    """
    signal.signal(signal.SIGTERM, _raise_interrupt)


def settings_from_env() -> Settings:
    return load_settings()


class BarsPerStage:
    """A rich progress bar per seeding stage."""

    def __init__(self, progress: RichProgress) -> None:
        self.progress = progress

    def start(self, stage: str, total: int) -> Callable[[int], None]:
        task = self.progress.add_task(stage, total=total)
        return lambda done: self.progress.advance(task, done)


def bars() -> RichProgress:
    return RichProgress(
        TextColumn("[bold]{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def seed_with_bars(
    shop: Shop, *, users: int, products: int, orders: int, seed: int, welcome: bool = False
) -> SeedReport:
    with bars() as progress:
        return seed_all(
            shop,
            users=users,
            products=products,
            orders=orders,
            seed=seed,
            welcome=welcome,
            progress=BarsPerStage(progress),
        )


__all__ = [
    "console",
    "err_console",
    "open_shop",
    "seed_with_bars",
    "settings_from_env",
    "stop_on_sigterm",
]
