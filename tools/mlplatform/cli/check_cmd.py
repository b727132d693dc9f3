"""`mlplatform check` (placeholder until its issue lands)."""

import click


@click.command(name="check")
def command() -> None:
    """Not implemented yet."""
    raise click.UsageError("'check' is not implemented yet")
