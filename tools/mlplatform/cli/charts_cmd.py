"""`mlplatform charts pull`: fill the chart cache that rendering reads, from the HelmRepository and OCI sources
of the clusters' HelmReleases. The one command that uses the network, and only when it is run (CI where the
network allows); `check`, `render` and the tests never pull (docs/architecture.md#helm-rendering)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import helm
from ..capacity.runner import cluster_names
from ..cluster_render import render_cluster
from ..errors import ToolError
from ..helm_cluster import ClusterObjects
from .common import (
    EXIT_FINDINGS,
    EXIT_OK,
    cluster_option,
    exit_codes,
    guarded,
    open_config,
    repo_option,
)


@click.group(name="charts", epilog=exit_codes(ok="0 every remote chart is in the cache (charts pull)",
                                                findings="1 some chart could not be pulled (each named on stderr)"))
def command() -> None:
    """The chart cache that Helm rendering reads (HelmRepository and OCI charts)."""


def wanted_charts(repo: Path, clusters: tuple[str, ...], cache: Path) -> list[tuple[str, helm.ChartRequest]]:
    """(release, chart) of every rendered HelmRelease whose chart comes from a remote source, once per chart."""
    config = open_config(repo)
    seen: dict[tuple[str, str, str], tuple[str, helm.ChartRequest]] = {}
    for cluster in cluster_names(config, clusters):
        rendered = render_cluster(config.repo, config, cluster)
        objects = ClusterObjects(rendered.manifests)
        for manifest in rendered.manifests:
            if not helm.is_helm_release(manifest.obj):
                continue
            request = helm.resolve_chart(config.repo, manifest.obj, objects.find, set(), cache)
            if request.pull_ref:
                release = f"{manifest.ref.namespace or 'default'}/{manifest.ref.name}"
                seen.setdefault((request.url, request.chart, request.version), (release, request))
    return [seen[k] for k in sorted(seen)]


@command.command(name="pull", epilog=exit_codes(ok="0 every remote chart is in the cache",
                                                findings="1 some chart could not be pulled (each named on stderr)"))
@repo_option
@cluster_option
@click.option("--cache", "cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"Chart cache directory (default: ${helm.CACHE_ENV}, else ~/.cache/mlplatform/charts).")
@click.option("--dry-run", is_flag=True, help="List the charts and where they would go; pull nothing.")
@guarded
def pull(repo: Path, clusters: tuple[str, ...], cache: Path | None, dry_run: bool) -> None:
    """Pull the chart of every HelmRelease from its HelmRepository or OCI source into the chart cache."""
    cache = (cache or helm.chart_cache_dir()).resolve()
    charts = wanted_charts(repo, clusters, cache)
    binary = None if dry_run else helm.find_helm()
    if binary is None and not dry_run:
        raise ToolError(f"no helm: run `make setup` or set {helm.ENV_VAR}")
    failed = 0
    for release, request in charts:
        where = helm.cache_path(cache, request.url, request.chart, request.version)
        if request.directory is not None:
            click.echo(f"cached  {request.describe()} ({release}): {where}")
            continue
        if dry_run:
            click.echo(f"would pull {request.describe()} ({release}) into {where}")
            continue
        assert binary is not None
        error = helm.pull_chart(binary, request, cache)
        if error:
            failed += 1
            click.echo(f"could not pull {request.describe()} ({release}): {error}", err=True)
        else:
            click.echo(f"pulled  {request.describe()} ({release}): {where}")
    sys.exit(EXIT_FINDINGS if failed else EXIT_OK)
