"""`mlplatform fix` (placeholder until its issue lands)."""

import click


@click.command(name="fix")
def command() -> None:
    """Not implemented yet."""
    raise click.UsageError("'fix' is not implemented yet")
