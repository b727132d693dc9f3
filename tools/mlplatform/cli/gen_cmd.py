"""`mlplatform gen [--check]`: write (or only compare) the files derived from the pool files."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from .. import gen
from .common import EXIT_FINDINGS, EXIT_OK, guarded, open_config, repo_option


def _write_atomically(path: Path, text: str) -> None:
    """Write beside the target, then rename: a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@click.command(name="gen")
@repo_option
@click.option("--check", "check_only", is_flag=True, help="Only compare; exit 1 on drift.")
@guarded
def command(repo: Path, check_only: bool) -> None:
    """Write (or only compare) the GPU-sharing ConfigMaps generated from the pool files."""
    root = open_config(repo).repo
    if check_only:
        findings = gen.check_drift(root)
        for f in findings:
            where = f"{f.file}:{f.line}" if f.line else f.file
            click.echo(f"{where}: {f.severity.value}: {f.rule}: {f.message}")
        if findings:
            click.echo(f"{len(findings)} generated file(s) out of date", err=True)
            sys.exit(EXIT_FINDINGS)
        click.echo("generated files are up to date")
        sys.exit(EXIT_OK)
    written = 0
    for path, text in gen.generate(root).items():
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        _write_atomically(path, text)
        written += 1
        click.echo(f"wrote {path.relative_to(root).as_posix()}")
    click.echo(f"{written} file(s) written" if written else "generated files are up to date")
