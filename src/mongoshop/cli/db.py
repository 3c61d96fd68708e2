"""`mongoshop db`: the embedded database and the indexes."""

from __future__ import annotations

import typer

from mongoshop.cli.common import console, open_shop, settings_from_env, stop_on_sigterm
from mongoshop.db.embedded import EmbeddedServer
from mongoshop.errors import ConfigurationError

app = typer.Typer(
    help="The database: run the embedded server, create indexes.", no_args_is_help=True
)


@app.command()
def start() -> None:
    """Run only the embedded database, in the foreground, until Ctrl-C.

    Other mongoshop commands with the same MONGOSHOP_DATA_DIR connect to it.

    Example: mongoshop db start
    """
    settings = settings_from_env()
    if not settings.embedded:
        raise ConfigurationError("MONGODB_URI is set: there is no embedded database to start")
    server = EmbeddedServer(settings.data_dir)
    server.start()
    if not server.owner:
        console.print(f"the embedded database is already running at {server.uri}")
        return
    console.print(f"embedded database at [bold]{server.uri}[/bold] (data in {server.data_dir})")
    console.print("Ctrl-C to stop")
    stop_on_sigterm()
    try:
        code = server.wait()
        raise typer.Exit(code)
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        server.stop()


@app.command()
def init() -> None:
    """Create every collection's indexes (idempotent; also done at service start).

    Example: mongoshop db init
    """
    with open_shop(settings_from_env()) as shop:
        for collection, names in shop.ensure_indexes().items():
            console.print(f"{collection}: {', '.join(names) or '(none)'}")
