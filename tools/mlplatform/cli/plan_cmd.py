"""`mlplatform plan` (placeholder until its issue lands)."""

import click


@click.command(name="plan")
def command() -> None:
    """Not implemented yet."""
    raise click.UsageError("'plan' is not implemented yet")
