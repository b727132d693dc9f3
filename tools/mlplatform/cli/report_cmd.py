"""`mlplatform report`: the check, the capacity plans, the GPU packing and the Flux graphs as one HTML page."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ..errors import ToolError
from .check_cmd import open_check_config
from .common import (
    EXIT_FINDINGS,
    EXIT_OK,
    cluster_option,
    exit_codes,
    guarded,
    no_cache_option,
    repo_option,
    time_limit_option,
)

DEFAULT_NAME = "report.html"


def output_path(out: Path) -> Path:
    """`--out` names the page (*.html) or the directory that receives report.html.

    A name without .html that is an existing file cannot be that directory: say so before the check runs,
    rather than let the write fail later as "<file>/report.html: File exists" (exit 2, nothing written)."""
    if out.suffix.lower() in (".html", ".htm"):
        return out
    if out.exists() and not out.is_dir():
        raise ToolError(f"--out {out}: an existing file, not a folder; name the page *.html (or *.htm), "
                        f"or give a folder to write {DEFAULT_NAME} into")
    return out / DEFAULT_NAME


@click.command(name="report", epilog=exit_codes(
    ok="0 the page is written; the check has no error and every plan fits",
    findings="1 the page is written; the check has errors or a plan does not fit"))
@repo_option
@cluster_option
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path(DEFAULT_NAME),
    show_default=True,
    help="The page to write (*.html), or a directory to write report.html into.",
)
@click.option(
    "--schema-location",
    "schema_locations",
    multiple=True,
    help="CRD schema directory or URL template for the check (repeatable; replaces the config's list).",
)
@time_limit_option
@no_cache_option
@guarded
def command(
    repo: Path, clusters: tuple[str, ...], out: Path, schema_locations: tuple[str, ...], time_limit: float,
    no_cache: bool,
) -> None:
    """One self-contained HTML page (opens offline): check summary by rule and file, capacity and cost per
    pool, GPU packing per node, Flux graph. Exit 1 when the check has errors or a plan does not fit."""
    # imported here: every command's module loads with the CLI, and these are only for the report
    from ..atomic import write_text_atomically
    from ..catalog import load_catalog
    from ..pictures.collect import collect
    from ..pictures.page import build_report

    started = time.perf_counter()
    target = output_path(out)  # a bad --out ends the command before the minutes of the check
    config = open_check_config(repo, schema_locations, None, None, None, no_cache)
    collected = collect(config, list(clusters) or None, plans=True, time_limit_s=time_limit)
    page, _ = build_report(collected, load_catalog(), config.repo)
    try:
        write_text_atomically(target, page)
    except OSError as exc:
        raise ToolError(f"cannot write {target}: {exc.strerror or exc}") from None
    seconds = time.perf_counter() - started
    click.echo(f"report: {target} ({len(page) // 1024} KiB, {seconds:.1f}s)", err=True)
    fits = all(p.ok for p in collected.plans.values()) and not collected.plan_errors
    sys.exit(EXIT_FINDINGS if collected.check.errors or not fits else EXIT_OK)
