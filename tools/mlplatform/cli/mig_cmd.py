"""`mlplatform mig` (placeholder until its issue lands)."""

import click


@click.command(name="mig")
def command() -> None:
    """Not implemented yet."""
    raise click.UsageError("'mig' is not implemented yet")
