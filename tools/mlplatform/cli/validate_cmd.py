"""`mlplatform validate`: YAML and schema validation only, of the rendered clusters or of the given files."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..check import run_validate
from ..errors import ToolError
from .check_cmd import common_options, finish, open_check_config
from .common import EXIT_CODES_HELP, cluster_option, guarded, repo_option

YAML_SUFFIXES = (".yaml", ".yml")


def _yaml_files_below(directory: Path) -> list[Path]:
    """Every *.yaml / *.yml file below `directory`, sorted; hidden directories (.git, .venv) are skipped."""
    found: list[Path] = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / n for n in sorted(names) if n.endswith(YAML_SUFFIXES)]
    return found


def expand_arguments(files: tuple[Path, ...]) -> list[Path]:
    """The files to validate: a file argument as given, a directory argument as the YAML files below it."""
    expanded: list[Path] = []
    for path in files:
        if path.is_dir():
            below = _yaml_files_below(path)
            if not below:
                raise ToolError(f"no *.yaml or *.yml files under {path}")
            expanded += below
        else:
            expanded.append(path)
    # A file named twice (directly and through its directory) is validated once.
    return list(dict.fromkeys(p.absolute() for p in expanded))


@click.command(name="validate", epilog=EXIT_CODES_HELP)
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
    min_severity: str,
    quiet: bool,
    no_cache: bool,
    files: tuple[Path, ...],
) -> None:
    """Validate YAML and schemas of FILES as they are (a directory: every *.yaml/*.yml below it), or (no FILES)
    of every rendered cluster."""
    config = open_check_config(repo, schema_locations, kubernetes_version, strict, jobs, no_cache)
    result = run_validate(config.repo, config, expand_arguments(files) or None, list(clusters) or None)
    if not files and not quiet:
        click.echo(f"kustomize: {result.kustomize}", err=True)
    finish(result, fmt, min_severity, quiet)
