"""The `mongoshop` command line (Typer + Rich), on the sync face."""
