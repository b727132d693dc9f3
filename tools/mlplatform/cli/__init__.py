"""The `mlplatform` command line: one click group; each command lives in its own module."""

from __future__ import annotations

import importlib

import click

from .. import __version__
from .common import EXIT_CODES_HELP, Cli

# Each module defines `command`, a click command or group. Order is the order of `--help`.
_COMMAND_MODULES = (
    "check", "render", "validate", "gen", "fix", "rules", "plan", "diff", "mig", "graph", "report", "charts",
)


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="mlplatform")
def main() -> None:
    """Check, render and plan the GitOps repository of the AI/MLOps platform."""


for _name in _COMMAND_MODULES:
    main.add_command(importlib.import_module(f".{_name}_cmd", __name__).command)
