"""`mlplatform diff --base REF`: rendered objects and capacity plan, the working tree against a git ref."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..renderdiff import build_report, format_markdown, format_text
from .common import (
    EXIT_OK,
    cluster_option,
    exit_codes,
    format_option,
    guarded,
    open_config,
    repo_option,
    resolve_format,
    time_limit_option,
)


@click.command(name="diff", epilog=exit_codes(
    ok="0 the report is written (whether or not anything changed)", findings="1 not used",
    error="2 a cluster does not render on either side, the ref is unknown, or the tool failed"))
@repo_option
@cluster_option
@click.option("--base", "base_ref", required=True, metavar="REF", help="Git ref to compare with (e.g. origin/main).")
@click.option("--no-plan", is_flag=True, help="Only the rendered objects, not the capacity plan change.")
@time_limit_option
@format_option("text", "json", "markdown")
@guarded
def command(repo: Path, clusters: tuple[str, ...], base_ref: str, no_plan: bool, time_limit: float,
            fmt: str | None) -> None:
    """What Flux would apply differently than at REF (objects added, removed, changed, as YAML diffs with
    Secret values hashed) and how the capacity plan changes (nodes, GPU units, cost per pool)."""
    config = open_config(repo)
    report = build_report(config, base_ref, list(clusters), with_plan=not no_plan, time_limit_s=time_limit)
    fmt = resolve_format(fmt)
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    elif fmt == "markdown":
        click.echo(format_markdown(report), nl=False)
    else:
        click.echo(format_text(report), nl=False)
    sys.exit(EXIT_OK)
