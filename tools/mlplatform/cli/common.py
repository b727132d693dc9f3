"""Options shared by every command, and the guard that turns errors into exit code 2 with one line."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..config import Config, find_repo, load_config
from ..errors import ToolError

EXIT_OK, EXIT_FINDINGS, EXIT_TOOL_ERROR = 0, 1, 2
# The epilog of every command's --help ("\b" keeps click from re-wrapping the lines).
EXIT_CODES_HELP = (
    "\b\nExit codes:\n  0 no finding at error severity\n  1 findings at error severity\n"
    "  2 the tool could not do its job (one line on stderr, no traceback)"
)


def repo_option(fn: Callable) -> Callable:
    return click.option("--repo", "repo", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
                        show_default=True, help="Repository root.")(fn)


def cluster_option(fn: Callable) -> Callable:
    return click.option("--cluster", "clusters", multiple=True, help="Cluster name (repeatable; default: all).")(fn)


def no_cache_option(fn: Callable) -> Callable:
    """--no-cache: run every kustomize build instead of reusing outputs kept by earlier runs."""
    return click.option("--no-cache", is_flag=True,
                        help="Run every kustomize build; do not read or write .mlplatform-cache/.")(fn)


def time_limit_option(fn: Callable) -> Callable:
    """The capacity planner's per-pool solver budget (plan, diff, report)."""
    from ..capacity.plan import DEFAULT_TIME_LIMIT_S

    return click.option("--time-limit", type=click.FloatRange(0.05, 600), default=DEFAULT_TIME_LIMIT_S,
                        show_default=True,
                        help="Seconds the exact packing solver may spend per pool and demand level.")(fn)


def format_option(*choices: str) -> Callable:
    def decorate(fn: Callable) -> Callable:
        return click.option("--format", "fmt", type=click.Choice(choices, case_sensitive=False), default=None,
                            help="Output format (default: text).")(fn)
    return decorate


def exit_codes(**lines: str) -> str:
    """The exit-code epilog with some lines said differently (keys "ok", "findings", "error")."""
    text = EXIT_CODES_HELP
    for key, default in (("ok", "0 no finding at error severity"), ("findings", "1 findings at error severity"),
                         ("error", "2 the tool could not do its job")):
        if key in lines:
            text = text.replace(default, lines[key])
    return text


def resolve_format(fmt: str | None) -> str:
    return (fmt or "text").lower()


def open_config(repo: Path, **overrides: Any) -> Config:
    return load_config(find_repo(repo), **overrides)


def guarded(fn: Callable) -> Callable:
    """Run a command; a ToolError or any unexpected error becomes one line on stderr and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except ToolError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_TOOL_ERROR)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            sys.exit(EXIT_TOOL_ERROR)
        except Exception as exc:  # noqa: BLE001 - the contract: no traceback reaches a user
            if os.environ.get("MLPLATFORM_DEBUG"):
                raise
            click.echo(f"error: internal error: {type(exc).__name__}: {exc} (set MLPLATFORM_DEBUG=1 for a traceback)",
                       err=True)
            sys.exit(EXIT_TOOL_ERROR)

    return wrapper
