"""`mlplatform render` (placeholder until its issue lands)."""

import click


@click.command(name="render")
def command() -> None:
    """Not implemented yet."""
    raise click.UsageError("'render' is not implemented yet")
