"""`mlplatform mig validate` / `mlplatform mig layouts`: check a MIG layout, or list every valid one."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..catalog import load_catalog
from ..errors import ToolError
from ..mig import resolve_gpu, valid_layouts, validate_layout
from ..suggest import did_you_mean
from .common import EXIT_FINDINGS, EXIT_OK, exit_codes, format_option, guarded, resolve_format

_Command = TypeVar("_Command", bound=Callable[..., Any])  # a decorator keeps the signature it is given

_GPU_HELP = "GPU model: A100-40GB, A100-80GB, H100-80GB, H200-141GB (any case) or a GFD product name."


def _repo_option(fn: _Command) -> _Command:
    """Every command takes --repo (README.md); MIG geometry comes from the tool's catalog, not the repo."""
    return click.option(
        "--repo", "repo", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
        help="Repository root. Accepted for uniformity and ignored: MIG geometry comes from the built-in "
             "catalog and does not depend on the repository.")(fn)


@click.group(name="mig", epilog=exit_codes(ok="0 valid (validate) or printed (layouts)",
                                          findings="1 validate: the layout does not fit one GPU"))
def command() -> None:
    """MIG layouts: check one, or list every valid one (NVIDIA placement rules)."""


_PROFILE_NAME = re.compile(r"[1-7]g\.[0-9]+gb(\+me)?")


def _parse_layout(items: tuple[str, ...], profiles: list[str], gpu: str) -> dict[str, int]:
    if not items:
        raise ToolError("give at least one PROFILE=COUNT, e.g. 3g.40gb=1")
    layout: dict[str, int] = {}
    for item in items:
        name, sep, count = item.partition("=")
        name = name.strip()
        if not sep or not count.strip().isdigit():
            raise ToolError(f"expected PROFILE=COUNT with a whole number, got {item!r}")
        # A well-formed profile the GPU lacks (3g.40gb on an A100-40GB) is an invalid layout, answered with
        # valid: false (exit 1) like any other; only text that is no MIG profile at all is a usage error.
        if name not in profiles and not _PROFILE_NAME.fullmatch(name):
            raise ToolError(f"not a MIG profile name: {name!r} (profiles of {gpu}: {', '.join(profiles)})"
                            f"{did_you_mean(name, profiles)}")
        layout[name] = layout.get(name, 0) + int(count)
    return layout


@command.command(name="validate", epilog=exit_codes(ok="0 the layout is valid", findings="1 it is not"))
@_repo_option
@click.option("--gpu", required=True, help=_GPU_HELP)
@click.argument("items", nargs=-1, metavar="PROFILE=COUNT ...")
@format_option("text", "json")
@guarded
def validate(repo: Path, gpu: str, items: tuple[str, ...], fmt: str | None) -> None:
    """Whether PROFILE=COUNT ... fits one GPU (exit 0 valid, 1 not)."""
    catalog = load_catalog()
    model = resolve_gpu(gpu, catalog)
    if not model.supports_mig:
        raise ToolError(f"{model.name} does not support MIG")
    layout = _parse_layout(items, list(model.mig_profiles), model.name)
    valid, reason = validate_layout(model, layout, catalog)
    if resolve_format(fmt) == "json":
        click.echo(json.dumps({"valid": valid, "reason": reason}))
    else:
        click.echo(f"{'valid' if valid else 'invalid'}: {reason}")
    sys.exit(EXIT_OK if valid else EXIT_FINDINGS)


@command.command(name="layouts", epilog=exit_codes(ok="0 the layouts printed", findings="1 not used"))
@_repo_option
@click.option("--gpu", required=True, help=_GPU_HELP)
@format_option("text", "json")
@guarded
def layouts(repo: Path, gpu: str, fmt: str | None) -> None:
    """Every valid non-empty layout of one GPU, most compute first."""
    catalog = load_catalog()
    model = resolve_gpu(gpu, catalog)
    if not model.supports_mig:
        raise ToolError(f"{model.name} does not support MIG")
    found = valid_layouts(model, catalog)
    if resolve_format(fmt) == "json":
        click.echo(json.dumps({"gpu": model.name, "layouts": found}))
        return
    click.echo(f"{model.name}: {len(found)} valid MIG layouts")
    for layout in found:
        click.echo("  " + " + ".join(f"{name} x{count}" for name, count in layout.items()))
