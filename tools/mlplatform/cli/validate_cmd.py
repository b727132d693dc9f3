"""`mlplatform validate`: YAML and schema validation only, of the rendered clusters or of the given files."""

from __future__ import annotations

import os
from pathlib import Path

import click
import yaml

from ..check import run_validate
from ..config import find_config_upwards
from ..errors import InputError, ToolError
from .check_cmd import common_options, finish, input_error_result, open_check_config
from .common import EXIT_CODES_HELP, cluster_option, guarded, repo_option

YAML_SUFFIXES = (".yaml", ".yml")


def _yaml_files_below(directory: Path) -> list[Path]:
    """Every *.yaml / *.yml file below `directory`, sorted; hidden directories (.git, .venv) are skipped."""
    found: list[Path] = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / n for n in sorted(names) if n.endswith(YAML_SUFFIXES)]
    return found


def _patch_files(files: list[Path]) -> set[Path]:
    """Files that a kustomization among `files` uses as patches: partial objects, not objects of their own
    (patches[].path, patchesJson6902[].path, patchesStrategicMerge entries that are paths)."""
    patches: set[Path] = set()
    for kfile in files:
        if kfile.name not in ("kustomization.yaml", "kustomization.yml"):
            continue
        try:
            data = yaml.safe_load(kfile.read_text(encoding="utf-8", errors="replace"))
        except (OSError, yaml.YAMLError, RecursionError):
            continue  # hygiene reports the file itself
        if not isinstance(data, dict):
            continue
        entries: list[object] = []
        for key in ("patches", "patchesJson6902"):
            items = data.get(key)
            entries += [i.get("path") for i in items if isinstance(i, dict)] if isinstance(items, list) else []
        strategic = data.get("patchesStrategicMerge")
        if isinstance(strategic, list):
            entries += [e for e in strategic if isinstance(e, str) and "\n" not in e and ":" not in e]
        for entry in entries:
            if isinstance(entry, str) and entry and "\0" not in entry:
                patches.add(Path(os.path.normpath(kfile.parent / entry)).absolute())
    return patches


def expand_arguments(files: tuple[Path, ...]) -> list[Path]:
    """The files to validate: a file argument as given, a directory argument as the YAML files below it
    except the patch files its kustomizations use."""
    expanded: list[Path] = []
    for path in files:
        if path.is_dir():
            below = _yaml_files_below(path)
            if not below:
                raise ToolError(f"no *.yaml or *.yml files under {path}")
            patches = _patch_files(below)
            expanded += [p for p in below if p.absolute() not in patches]
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
    """Validate YAML and schemas of FILES as they are (a directory: every *.yaml/*.yml below it but the
    patches its kustomizations use), or (no FILES) of every rendered cluster. Without --repo the settings
    come from the nearest .mlplatform.yaml at or above the current directory, else the built-in defaults,
    so any file anywhere can be validated."""
    if click.get_current_context().get_parameter_source("repo") is click.core.ParameterSource.DEFAULT:
        repo = find_config_upwards(Path.cwd()) or Path.cwd()
    config = open_check_config(repo, schema_locations, kubernetes_version, strict, jobs, no_cache)
    try:
        result = run_validate(config.repo, config, expand_arguments(files) or None, list(clusters) or None)
    except InputError as exc:
        result = input_error_result(config, exc)
    if not files and not quiet:
        click.echo(f"kustomize: {result.kustomize}", err=True)
    finish(result, fmt, min_severity, quiet)
