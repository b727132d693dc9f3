"""`mlplatform render`: the objects Flux would apply to a cluster, as YAML."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
import yaml

from ..atomic import write_text_atomically
from ..cluster_render import render_cluster
from ..model import Severity
from ..render import find_kustomize
from .check_cmd import format_output
from .common import EXIT_FINDINGS, EXIT_OK, exit_codes, guarded, no_cache_option, open_config, repo_option


def _dump(objects: list[dict]) -> str:
    return "".join(
        "---\n" + yaml.safe_dump(obj, sort_keys=False, default_flow_style=False) for obj in objects
    )


@click.command(name="render", epilog=exit_codes(
    ok="0 rendered without errors", findings="1 rendering reported errors (on stderr; --out writes nothing)"))
@repo_option
@click.option("--cluster", "cluster", required=True, help="Cluster name.")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write one file per Flux Kustomization into this directory instead of stdout.",
)
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Parallel kustomize builds.")
@no_cache_option
@guarded
def command(repo: Path, cluster: str, out: Path | None, jobs: int | None, no_cache: bool) -> None:
    """Print the objects Flux would apply to CLUSTER (after kustomize and postBuild substitution)."""
    config = open_config(repo, jobs=jobs)
    config.build_cache = not no_cache
    if no_cache:
        from .. import buildcache

        buildcache.disable()
    tool = find_kustomize(config.repo, config)
    rendered = render_cluster(config.repo, config, cluster, tool=tool)
    click.echo(f"kustomize: {tool.describe()}", err=True)
    problems = [f for f in rendered.findings if f.severity is not Severity.INFO]
    failed = any(f.severity is Severity.ERROR for f in problems)
    if out is None:
        click.echo(_dump([m.obj for m in rendered.manifests]), nl=False)
    elif failed:
        # A failed build must not replace good files with partial or empty ones.
        click.echo(f"rendering failed: nothing written to {out}", err=True)
    else:
        out.mkdir(parents=True, exist_ok=True)
        for (namespace, name), manifests in rendered.by_kustomization.items():
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{namespace}-{name}")
            write_text_atomically(out / f"{safe}.yaml", _dump([m.obj for m in manifests]), mode=0o644)
        click.echo(f"wrote {len(rendered.by_kustomization)} file(s) to {out}", err=True)
    if problems:
        click.echo(format_output(problems, "text", {}), err=True)
    sys.exit(EXIT_FINDINGS if failed else EXIT_OK)
