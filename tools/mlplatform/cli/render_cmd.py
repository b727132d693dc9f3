"""`mlplatform render`: the objects Flux would apply to a cluster, as YAML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import yaml

from ..cluster_render import render_cluster
from ..config import Config
from ..discovery import clusters_below
from ..errors import unknown_clusters
from ..model import Severity
from ..render import KustomizeTool, find_kustomize
from ..render_out import file_names, write_out
from .check_cmd import format_output
from .common import EXIT_FINDINGS, EXIT_OK, exit_codes, guarded, no_cache_option, open_config, repo_option

NOT_RENDERED = frozenset({"flux/external-source", "flux/source-missing"})


def _dump(objects: list[dict[str, Any]]) -> str:
    return "".join(
        "---\n" + yaml.safe_dump(obj, sort_keys=False, default_flow_style=False) for obj in objects
    )


@click.command(name="render", epilog=exit_codes(
    ok="0 rendered without errors", findings="1 rendering reported errors (on stderr; --out writes what rendered)"))
@repo_option
@click.option("--cluster", "cluster", default=None, help="Cluster name (default: the clusters found by --path).")
@click.option(
    "--path",
    "path",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Render the Flux cluster(s) found at or below this folder (a `flux bootstrap --path`, or a folder "
    "holding clusters), as `flux-local build --path` does; Kustomization paths resolve against --repo.",
)
@click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="KIND/NAMESPACE/NAME=DIR",
    help="Render a Flux source the tool cannot fetch (another Git repository, OCIRepository, Bucket, "
    "ExternalArtifact) from a local folder (repeatable), as flux-local's --sources.",
)
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
def command(
    repo: Path, cluster: str | None, path: Path | None, sources: tuple[str, ...], out: Path | None,
    jobs: int | None, no_cache: bool,
) -> None:
    """Print the objects Flux would apply to CLUSTER (after kustomize and postBuild substitution)."""
    config = open_config(repo, jobs=jobs)
    config.build_cache = not no_cache
    if no_cache:
        from .. import buildcache

        buildcache.disable()
    config.sources = {**config.sources, **parse_sources(sources)}
    if path is not None:
        found = clusters_below(config.repo, path)
        config.set_cluster_roots(found)
        names = [cluster] if cluster else sorted(found)
    elif cluster:
        names = [cluster]
    else:
        raise click.UsageError("give --cluster NAME or --path DIR")
    unknown = [name for name in names if name not in config.cluster_roots()]
    if unknown:
        raise unknown_clusters(unknown, config.clusters())
    tool = find_kustomize(config.repo, config)
    click.echo(f"kustomize: {tool.describe()}", err=True)
    failed = False
    for name in names:
        if len(names) > 1:
            click.echo(f"cluster: {name}", err=True)
        failed = _render_one_cluster(config, name, tool, out / name if out and len(names) > 1 else out) or failed
    sys.exit(EXIT_FINDINGS if failed else EXIT_OK)


def parse_sources(values: tuple[str, ...]) -> dict[str, str]:
    """`--source KIND/NAMESPACE/NAME=DIR` as {"KIND/NAMESPACE/NAME": absolute DIR}; DIR relative to the
    current directory (where the user typed it)."""
    mapped: dict[str, str] = {}
    for value in values:
        key, sep, folder = value.partition("=")
        if not sep or key.count("/") != 2 or not all(key.split("/")) or not folder:
            raise click.BadParameter(f"'{value}': expected KIND/NAMESPACE/NAME=DIR", param_hint="--source")
        if not Path(folder).is_dir():
            raise click.BadParameter(f"'{folder}' is not a folder", param_hint="--source")
        mapped[key] = str(Path(folder).resolve())
    return mapped


def _render_one_cluster(config: Config, cluster: str, tool: KustomizeTool, out: Path | None) -> bool:
    """Render one cluster to stdout or `out`; True when rendering reported errors."""
    rendered = render_cluster(config.repo, config, cluster, tool=tool)
    # what was not rendered (a source neither in the repository nor mapped) is said even though it is an info
    problems = [f for f in rendered.findings if f.severity is not Severity.INFO or f.rule in NOT_RENDERED]
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
    return failed
