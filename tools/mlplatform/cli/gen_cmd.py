"""`mlplatform gen [--check]`: write (or only compare) the files derived from the pool files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import gen
from ..atomic import refuse_links, write_text_atomically
from ..errors import unknown_clusters
from ..model import Finding
from ..report import text_line
from .common import (
    EXIT_FINDINGS,
    EXIT_OK,
    cluster_option,
    exit_codes,
    guarded,
    open_config,
    repo_option,
)


def _print(findings: list[Finding]) -> None:
    for f in findings:
        click.echo(text_line(f))  # the line `check` prints for the same finding


def _selected_clusters(root: Path, config_clusters: list[str], wanted: tuple[str, ...]) -> list[str] | None:
    """None for all; else the named clusters, each of which must exist (exit 2 otherwise)."""
    if not wanted:
        return None
    available = sorted(set(config_clusters) | set(gen.clusters_with_pool_files(root)))
    unknown = [c for c in wanted if c not in available]
    if unknown:
        raise unknown_clusters(unknown, available)
    return list(dict.fromkeys(wanted))


@click.command(name="gen", epilog=exit_codes(
    ok="0 files written, or (--check) up to date",
    findings="1 a pool file has errors (nothing written) or, with --check, drift"))
@repo_option
@cluster_option
@click.option("--check", "check_only", is_flag=True, help="Only compare; exit 1 on drift.")
@guarded
def command(repo: Path, clusters: tuple[str, ...], check_only: bool) -> None:
    """Write (or only compare) the GPU-sharing ConfigMaps generated from the pool files.

    A pool file with an error (one that `mlplatform check` reports: a MIG layout that cannot be placed, an
    unknown instance type, ...) stops `gen` before it writes anything.
    """
    config = open_config(repo)
    root = config.repo
    selected = _selected_clusters(root, config.clusters(), clusters)
    generation = gen.generate_all(root, selected)
    refused = generation.findings + gen.pool_file_errors(root, selected)
    if refused:
        _print(refused)
        what = "compared" if check_only else "written"
        click.echo(f"{len(refused)} error(s) in pool file(s): nothing {what}; fix the pool file(s) first", err=True)
        sys.exit(EXIT_FINDINGS)
    if check_only:
        findings = gen.check_drift(root, selected)
        _print(findings)
        if findings:
            click.echo(f"{len(findings)} generated file(s) out of date: run `mlplatform gen`", err=True)
            sys.exit(EXIT_FINDINGS)
        click.echo("generated files are up to date")
        sys.exit(EXIT_OK)
    written = 0
    for gen_set in generation.sets:
        for path, text in gen_set.files.items():
            refuse_links(root, path)  # before reading too: a linked folder may lead anywhere
            if path.is_file() and path.read_text(encoding="utf-8") == text:
                continue
            write_text_atomically(path, text, mode=0o644, root=root)
            written += 1
            click.echo(f"wrote {path.relative_to(root).as_posix()}")
    click.echo(f"{written} file(s) written" if written else "generated files are up to date")
