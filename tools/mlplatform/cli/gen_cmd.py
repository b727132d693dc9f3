"""`mlplatform gen` (placeholder until its issue lands)."""

import click


@click.command(name="gen")
def command() -> None:
    """Not implemented yet."""
    raise click.UsageError("'gen' is not implemented yet")
