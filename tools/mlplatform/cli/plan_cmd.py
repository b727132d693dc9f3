"""`mlplatform plan`: capacity plan per cluster; `--base REF` diff against a git ref; `--set` what-if."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..capacity.output import diff_text, plan_markdown, plan_text
from ..capacity.runner import plan_against_base, plan_repo
from ..capacity.whatif import parse_override
from .common import (
    EXIT_FINDINGS,
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


@click.command(name="plan", epilog=exit_codes(ok="0 every workload is placed, every pool fits its max_size and the "
                                                "plan is complete",
                                             findings="1 something does not fit (unplaced, or max_size too small), "
                                                      "or the plan is incomplete (a file that does not render, "
                                                      "pool-file errors: the plan lists them)"))
@repo_option
@cluster_option
@click.option(
    "--base",
    "base_ref",
    default=None,
    metavar="REF",
    help="Also plan this git ref (in a temporary worktree) and show the difference.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="POOL.KEY=VALUE",
    help="What-if: override a pool setting, e.g. a100-timeslice.max_size=8 (repeatable).",
)
@time_limit_option
@format_option("text", "json", "markdown")
@guarded
def command(
    repo: Path,
    clusters: tuple[str, ...],
    base_ref: str | None,
    sets: tuple[str, ...],
    time_limit: float,
    fmt: str | None,
) -> None:
    """Nodes, GPU units and cost per pool at minimum and maximum demand (exit 1: something does not fit, or
    the plan is incomplete)."""
    config = open_config(repo)
    overrides = [parse_override(s) for s in sets]
    head = [p.to_json() for p in plan_repo(config, clusters, overrides, time_limit_s=time_limit)]
    fmt = resolve_format(fmt)
    base: dict[str, Any] | None = None
    if base_ref:
        base = plan_against_base(
            config, base_ref, clusters or config.clusters(), head, time_limit_s=time_limit
        )
    if fmt == "json":
        body: dict[str, Any] = {"clusters": head}
        if base is not None:
            body["base"] = base
        click.echo(json.dumps(body, indent=2))
    elif fmt == "markdown":
        text = plan_markdown(head)
        if base is not None:
            text = diff_text(base["ref"], base["commit"], base["diff"], markdown=True) + "\n" + text
        click.echo(text, nl=False)
    else:
        text = plan_text(head)
        if base is not None:
            text += "\n" + diff_text(base["ref"], base["commit"], base["diff"])
        click.echo(text, nl=False)
    # Only the branch's own plan decides: an incomplete base is said in the diff's heading, and a branch that
    # fixes the base's broken file must not fail for it.
    sys.exit(EXIT_OK if all(c["fits"] and c["complete"] for c in head) else EXIT_FINDINGS)
