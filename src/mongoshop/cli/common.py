"""What every command shares: settings, a database on the sync face (`open_shop`), and output."""

from __future__ import annotations

import signal
from types import FrameType

from rich.console import Console

from mongoshop.bootstrap import open_shop
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


__all__ = ["console", "err_console", "open_shop", "settings_from_env", "stop_on_sigterm"]
