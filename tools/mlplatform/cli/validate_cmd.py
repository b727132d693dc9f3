"""`mlplatform validate`: YAML and schema validation only, of the rendered clusters or of the given files."""

from __future__ import annotations

from pathlib import Path

import click

from ..check import run_validate
from .check_cmd import common_options, finish, open_check_config
from .common import cluster_option, guarded, repo_option


@click.command(name="validate")
@repo_option
@cluster_option
@common_options
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@guarded
def command(
    repo: Path,
    clusters: tuple[str, ...],
    fmt: str | None,
    schema_locations: tuple[str, ...],
    kubernetes_version: str | None,
    strict: bool | None,
    jobs: int | None,
    files: tuple[Path, ...],
) -> None:
    """Validate YAML and schemas of FILES as they are, or (no FILES) of every rendered cluster."""
    config = open_check_config(repo, schema_locations, kubernetes_version, strict, jobs)
    result = run_validate(config.repo, config, [f.absolute() for f in files] or None, list(clusters) or None)
    if not files:
        click.echo(f"kustomize: {result.kustomize}", err=True)
    finish(result, fmt)
