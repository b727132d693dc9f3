"""The `mlplatform` command line: one click group; each command lives in its own module."""

from __future__ import annotations

import gc
import importlib

import click

from .. import __version__
from .common import EXIT_CODES_HELP, Cli

FULL_COLLECTION_AFTER = 100  # middle-generation collections before a full one (Python's default: 10)

# Each module defines `command`, a click command or group named as its module. Order is the order of `--help`.
_COMMAND_MODULES = (
    "check", "render", "validate", "gen", "fix", "rules", "plan", "diff", "mig", "graph", "report", "charts",
)


class _LazyCli(Cli):
    """Imports a command's module when that command is asked for: `check` then does not pay for the modules
    of report, fix, diff and graph (their imports are ~40% of the start-up); `--help` imports them all."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMAND_MODULES:
            return None
        command: click.Command = importlib.import_module(f".{cmd_name}_cmd", __name__).command
        return command


@click.group(cls=_LazyCli, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="mlplatform")
def main() -> None:
    """Check, render and plan the GitOps repository of the AI/MLOps platform."""
    # The cyclic collector's full passes walk every live object, and a check keeps every rendered object
    # alive: on the 10-cluster fleet its 4 full passes took 0.35-0.5 s of ~4.5 s of CPU, for data that is
    # acyclic and alive. Full passes come 10x more rarely (after 100 middle-generation passes, not 10);
    # the young generations still collect cycles as before (peak memory there: 101 MiB either way).
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_AFTER)
