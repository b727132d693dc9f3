"""Options shared by every command, and the guard that turns errors into exit code 2 with one line."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from ..config import Config, find_repo, load_config
from ..errors import InputError, ToolError
from ..interrupt import cleanup_on_signal
from ..model import Severity
from ..report import text_line

EXIT_OK, EXIT_FINDINGS, EXIT_TOOL_ERROR = 0, 1, 2
# The epilog of every command's --help ("\b" keeps click from re-wrapping the lines).
EXIT_CODES_HELP = (
    "\b\nExit codes:\n  0 no finding at error severity\n  1 findings at error severity\n"
    "  2 the tool could not do its job (one line on stderr, no traceback)"
)

# A decorator hands back the command it was given (click.option keeps its signature: FC -> FC)
F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")


class Cli(click.Group):
    """The command group; a usage error (unknown command, bad flag or value) is one line and exit 2.

    click's own report is three lines (usage, hint, error) on stderr; CI logs and the contract of exit 2
    ("one clear line") want the error first and alone, with the hint on the same line. Relies on click 8.5.1
    (constraints.txt) core.Command.main: without standalone mode a ClickException propagates to the caller
    and ctx.exit() (--help, --version) returns its exit code instead of exiting."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else (prog_name or "mlplatform")
            message = " ".join(exc.format_message().split())  # click may wrap a message over lines
            click.echo(f"error: {message} (see '{where} --help')", err=True)
            sys.exit(EXIT_TOOL_ERROR)
        except click.ClickException as exc:
            click.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(EXIT_TOOL_ERROR)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(EXIT_TOOL_ERROR)
        if not standalone_mode:
            return result
        # without standalone mode click returns the code of ctx.exit() (--help, --version) instead of exiting
        sys.exit(result if isinstance(result, int) else EXIT_OK)


def repo_option(fn: F) -> F:
    return click.option("--repo", "repo", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
                        show_default=True, help="Repository root.")(fn)


def cluster_option(fn: F) -> F:
    return click.option("--cluster", "clusters", multiple=True, help="Cluster name (repeatable; default: all).")(fn)


def no_cache_option(fn: F) -> F:
    """--no-cache: run every kustomize build instead of reusing outputs kept by earlier runs."""
    return click.option("--no-cache", is_flag=True,
                        help="Run every kustomize build; do not read or write .mlplatform-cache/ even when "
                        "MLPLATFORM_CACHE=1 turns the cache on.")(fn)


def time_limit_option(fn: F) -> F:
    """The capacity planner's per-pool solver budget (plan, diff, report)."""
    from ..capacity.plan import DEFAULT_TIME_LIMIT_S

    return click.option("--time-limit", type=click.FloatRange(0.05, 600), default=DEFAULT_TIME_LIMIT_S,
                        show_default=True,
                        help="Seconds the exact packing solver may spend per pool and demand level.")(fn)


def format_option(*choices: str) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
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


def open_config(repo: Path, *, keep_findings: bool = False, **overrides: Any) -> Config:
    """The repository's settings with `overrides` (CLI flags) applied.

    A problem in .mlplatform.yaml is a finding (config.py). check and validate pass `keep_findings` and
    report it with the others, in every output format; any other command prints it (one line each, file:line)
    and stops with exit 1 before doing anything with settings it cannot trust."""
    config = load_config(find_repo(repo), validates_schemas=keep_findings, **overrides)
    if not keep_findings and config.findings:
        for finding in config.findings:
            click.echo(text_line(finding), err=True)  # the line `check` prints for it
        if any(f.severity is Severity.ERROR for f in config.findings):
            sys.exit(EXIT_FINDINGS)
    return config


def _tolerant_output() -> None:
    """Under a locale whose encoding cannot show every character (LANG=en_US.ISO-8859-1; C and POSIX get
    Python's UTF-8 mode), a file name or value from the repository is escaped on output instead of ending
    the command with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) == "strict":
            reconfigure(errors="backslashreplace")


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a command; a ToolError or any unexpected error becomes one line on stderr and exit 2.

    The routing rule: an InputError that reaches this far is a problem in a file of the repository (a pool
    file `plan` cannot load), so it is a finding, exit 1, in one line with its file and line; exit 2 is kept
    for the tool that cannot do its job. check and validate never get here with one (check_cmd.py)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        _tolerant_output()
        try:
            # SIGTERM, like Ctrl-C, ends the command through `finally` blocks: temporary files and
            # worktrees are removed (interrupt.py), then "error: interrupted" and exit 2 below.
            with cleanup_on_signal():
                return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except InputError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_FINDINGS)
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
