"""`mongoshop db`: the embedded database and the indexes."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from mongoshop._sync.repositories.schema import MigrationRecords
from mongoshop.cli.common import console, open_shop, settings_from_env, stop_on_sigterm
from mongoshop.db.embedded import EmbeddedServer
from mongoshop.errors import ConfigurationError
from mongoshop.migrations import MIGRATIONS
from mongoshop.migrations.runner import migrate as run_migrations
from mongoshop.migrations.runner import pending
from mongoshop.observability.tracing import configure_tracing, shutdown_tracing, span

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


@app.command()
def indexes(
    apply: Annotated[
        bool, typer.Option("--apply", help="Create, rebuild and drop as the plan says")
    ] = False,
) -> None:
    """Compare the declared indexes with the server's: keep, create, rebuild, drop.

    Only the indexes mongoshop created are ever dropped or rebuilt; any other
    index is listed as "not mongoshop's" and left alone. Without --apply
    nothing changes. A rebuild drops the index, then creates it: queries that
    need it are slower meanwhile.

    Examples:
      mongoshop db indexes
      mongoshop db indexes --apply
    """
    with open_shop(settings_from_env(), ensure_indexes=False) as shop:
        plans = shop.declarations.plan()
        for plan in plans:
            for line in plan.lines():
                console.print(line, highlight=False, markup=False)
        if not any(plan.changes for plan in plans):
            console.print("the indexes match the declared ones")
            return
        if not apply:
            console.print("nothing changed: run `mongoshop db indexes --apply` to apply this plan")
            return
        shop.declarations.apply(plans)
        console.print("applied")


@app.command()
def migrate(
    to: Annotated[
        int | None, typer.Option("--to", min=1, help="Stop after this migration number")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would run, run nothing")
    ] = False,
) -> None:
    """Run the pending migrations, in order, each once.

    Several processes may run this at once: one runs the migrations (it holds a
    lease in the database), the others wait for it and find nothing left. A
    migration interrupted (even by SIGKILL) resumes from its last batch.

    Examples:
      mongoshop db migrate --dry-run
      mongoshop db migrate
      mongoshop db migrate --to 3
    """
    settings = settings_from_env()
    configure_tracing("mongoshop-migrations")  # with OTEL_EXPORTER_OTLP_ENDPOINT only
    try:
        with open_shop(settings, ensure_indexes=False) as shop, span("migrate"):
            run_migrations(
                shop,
                MIGRATIONS,
                to=to,
                dry_run=dry_run,
                on_line=lambda line: console.print(line, highlight=False, markup=False),
            )
    finally:
        shutdown_tracing()


@app.command()
def status() -> None:
    """Server, version, every collection with its count and sizes, and the migrations
    (applied, with when, and pending).

    Example: mongoshop db status
    """
    settings = settings_from_env()
    with open_shop(settings) as shop:
        info = shop.database.client.server_info()
        hello = shop.database.command("hello")
        console.print(
            f"server {', '.join(hello.get('hosts', [])) or 'unknown'}"
            f" (replica set {hello.get('setName', '-')}), version {info.get('version')}"
        )
        console.print(f"database {shop.database.name}")
        table = Table()
        for column in ("collection", "documents", "data", "indexes", "index size"):
            table.add_column(column, justify="left" if column == "collection" else "right")
        for repository in shop.repositories.all():
            stats = repository.storage_stats()
            table.add_row(
                repository.collection_name,
                str(stats.get("count", 0)),
                _size(stats.get("size", 0)),
                str(stats.get("nindexes", len(stats.get("indexSizes", {})))),
                _size(stats.get("totalIndexSize", 0)),
            )
        console.print(table)
        applied = MigrationRecords(shop.repositories.schema).applied()
        for record in applied:
            console.print(
                f"migration {record['number']:04d} {record['name']}: applied"
                f" {record['applied_at']:%Y-%m-%d %H:%M} UTC",
                highlight=False,
                markup=False,  # names come from the database
            )
        for migration in pending(applied, MIGRATIONS):
            console.print(f"migration {migration.label}: pending", highlight=False, markup=False)


def _size(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
