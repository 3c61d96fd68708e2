"""`mongoshop users`: account administration."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from mongoshop.cli.common import console, open_shop, settings_from_env
from mongoshop.errors import ValidationFailed
from mongoshop.models.users import Credentials

app = typer.Typer(help="User accounts.", no_args_is_help=True)


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="The admin's e-mail address")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="At least 8 characters"
        ),
    ],
    name: Annotated[str, typer.Option(help="Display name")] = "Administrator",
) -> None:
    """Create an admin, or make an existing account an active admin with this password.

    Example: mongoshop users create-admin --email ops@example.com --password '…'
    """
    try:
        checked = Credentials(email=email, password=password)
    except ValidationError as exc:
        raise ValidationFailed(f"invalid e-mail: {email}") from exc
    if len(password) < 8:
        raise ValidationFailed("the password must have at least 8 characters")
    with open_shop(settings_from_env()) as shop:
        user = shop.users.create_admin(email=checked.email, password=password, name=name)
    console.print(f"admin [bold]{user.email}[/bold] ready (id {user.id})")
