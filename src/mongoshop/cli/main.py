"""Entry point: the Typer app and the one place errors become a one-line message."""

from __future__ import annotations

import logging
import sys
from typing import Any, NoReturn

import typer
from pymongo.errors import PyMongoError
from typer._click.core import Context  # typer vendors click; this is its Context
from typer.core import TyperGroup

from mongoshop.cli import db, export, import_, seed, serve, stats, users, webhooks, worker
from mongoshop.cli.common import err_console
from mongoshop.errors import MongoshopError, is_unavailable
from mongoshop.observability.commands import COMMAND_LOGGER


class ErrorReportingGroup(TyperGroup):
    """Known failures print one line on stderr and exit 1, never a traceback."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except MongoshopError as exc:
            _fail(exc.detail)
        except PyMongoError as exc:
            reason = "the database is unavailable" if is_unavailable(exc) else "database error"
            _fail(f"{reason}: {str(exc).split(',')[0][:160]}")


app = typer.Typer(
    name="mongoshop",
    cls=ErrorReportingGroup,
    help="mongoshop: a shop backend on MongoDB.\n\n"
    "With MONGODB_URI unset, every command uses the embedded database in "
    "MONGOSHOP_DATA_DIR (default ./data), starting it if needed.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.command(name="serve")(serve.serve)
app.command(name="seed")(seed.seed)
app.command(name="worker")(worker.worker)
app.command(name="export")(export.export)
app.command(name="stats")(stats.stats)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(import_.app, name="import")
app.add_typer(webhooks.app, name="webhooks")


def _fail(message: str) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def main() -> None:
    """Run the CLI (the console script)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("pymongo", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # A batch job's bulk writes are slow by design: no slow-command warnings between its
    # progress bars. `serve` and `worker` configure their own logging, which reports them.
    logging.getLogger(COMMAND_LOGGER).setLevel(logging.ERROR)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
