"""`mlplatform validate` (placeholder until its issue lands)."""

import click


@click.command(name="validate")
def command() -> None:
    """Not implemented yet."""
    raise click.UsageError("'validate' is not implemented yet")
