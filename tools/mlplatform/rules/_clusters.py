"""Render each cluster into the context the rules read (for `fix` and `rules --placement`; not `check`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..config import Config
from ..context import ClusterContext


def cluster_contexts(repo: Path, config: Config, clusters: list[str] | None = None) -> Iterator[ClusterContext]:
    """One ClusterContext per cluster: the rendered objects (real kustomize) and the pool file."""
    from ..cluster_render import render_cluster_manifests
    from ..pools import load_pool_file, pool_file_path

    for cluster in clusters or config.clusters():
        manifests, _ = render_cluster_manifests(repo, config, cluster)
        path = pool_file_path(repo, cluster)
        pool_file = load_pool_file(path, repo) if path.is_file() else None
        yield ClusterContext(repo=repo, config=config, cluster=cluster, manifests=manifests, pool_file=pool_file)
