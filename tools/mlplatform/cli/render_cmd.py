"""`mlplatform render`: the objects Flux would apply to a cluster, as YAML."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import yaml

from ..cluster_render import render_cluster
from ..model import Severity
from ..render import find_kustomize
from ..render_out import file_names, write_out
from .check_cmd import format_output
from .common import EXIT_FINDINGS, EXIT_OK, exit_codes, guarded, open_config, repo_option


def _dump(objects: list[dict]) -> str:
    return "".join(
        "---\n" + yaml.safe_dump(obj, sort_keys=False, default_flow_style=False) for obj in objects
    )


@click.command(name="render", epilog=exit_codes(
    ok="0 rendered without errors", findings="1 rendering reported errors (on stderr; --out writes what rendered)"))
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
@guarded
def command(repo: Path, cluster: str, out: Path | None, jobs: int | None) -> None:
    """Print the objects Flux would apply to CLUSTER (after kustomize and postBuild substitution)."""
    config = open_config(repo, jobs=jobs)
    tool = find_kustomize(config.repo, config)
    rendered = render_cluster(config.repo, config, cluster, tool=tool)
    click.echo(f"kustomize: {tool.describe()}", err=True)
    problems = [f for f in rendered.findings if f.severity is not Severity.INFO]
    failed = any(f.severity is Severity.ERROR for f in problems)
    if out is None:
        click.echo(_dump([m.obj for m in rendered.manifests]), nl=False)
    else:
        # What rendered is written even when findings exist (the exit code reports them); a Kustomization
        # whose build failed or lost objects keeps its previous file instead of a partial one.
        failed_keys = set(rendered.incomplete) | {
            key for key, one in rendered.renders.items() if any(f.severity is Severity.ERROR for f in one.findings)
        }
        names = file_names(sorted(set(rendered.by_kustomization) | failed_keys))
        contents = {
            names[key]: _dump([m.obj for m in manifests])
            for key, manifests in rendered.by_kustomization.items()
            if key not in failed_keys
        }
        keep = {names[key] for key in failed_keys}
        if contents:
            done = write_out(out, contents, keep)
            click.echo(f"wrote {len(done.written)} file(s) to {out}", err=True)
        elif failed:
            click.echo(f"rendering failed: nothing written to {out}", err=True)
        if keep:
            click.echo(f"not written, previous file kept (the build failed): {', '.join(sorted(keep))}", err=True)
    if problems:
        click.echo(format_output(problems, "text", {}), err=True)
    sys.exit(EXIT_FINDINGS if failed else EXIT_OK)
