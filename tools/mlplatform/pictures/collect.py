"""One pass over a repository for the pictures: the check, its renderings, the Flux graphs and the plans.

`report` and `graph` draw what `check` judged: the check runs once, hands over each cluster's rendering
(check.run_check(renders=...)), and the graphs and capacity plans are built from those same objects, so
kustomize runs once per Kustomization and the page cannot disagree with the check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..capacity.plan import DEFAULT_TIME_LIMIT_S, ClusterPlan
from ..check import CheckResult, run_check
from ..cluster_render import ClusterRender, render_cluster
from ..config import Config, load_config
from ..errors import InputError, ToolError
from ..graph import ClusterGraph, build_graph, changed_only, diff_graphs
from ..model import Finding, Manifest


@dataclass
class Collected:
    check: CheckResult
    renders: dict[str, ClusterRender]
    graphs: dict[str, ClusterGraph]
    plans: dict[str, ClusterPlan] = field(default_factory=dict)
    plan_errors: dict[str, str] = field(default_factory=dict)  # cluster -> why it has no plan


def _preinstalled(config: Config) -> list[str]:
    return list(config.preinstalled_crd_groups)


def collect(
    config: Config,
    clusters: list[str] | None = None,
    *,
    plans: bool = False,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
) -> Collected:
    renders: dict[str, ClusterRender] = {}
    result = run_check(config.repo, config, clusters, renders=renders)
    graphs = {
        name: build_graph(renders[name], result.findings, _preinstalled(config)) for name in result.clusters
    }
    collected = Collected(result, renders, graphs)
    if plans:
        _plan(collected, config, time_limit_s)
    return collected


def _plan(collected: Collected, config: Config, time_limit_s: float) -> None:
    from ..capacity.runner import plan_repo  # imported here: graph does not plan

    def rendered(_repo: Path, _config: Config, cluster: str) -> tuple[list[Manifest], list[Finding]]:
        render = collected.renders[cluster]
        return render.manifests, render.findings

    for name in collected.check.clusters:
        try:
            collected.plans[name] = plan_repo(config, [name], renderer=rendered, time_limit_s=time_limit_s)[0]
        except (ToolError, InputError) as exc:
            # A cluster without a usable pool file still gets its check summary and graph on the page.
            collected.plan_errors[name] = str(exc)


def base_graphs(
    config: Config, ref: str, clusters: list[str], progress: Callable[[str], None] | None = None
) -> tuple[str, dict[str, ClusterGraph]]:
    """(commit, graphs) of `ref`, rendered in a temporary worktree by this checkout's tools."""
    from ..capacity.diff import base_worktree

    with base_worktree(config.repo, ref) as base:
        base_config = load_config(base.repo, kustomize=config.kustomize)
        available = set(base_config.clusters())
        graphs = {}
        for name in clusters:
            if name not in available:
                continue
            if progress:
                progress(name)
            graphs[name] = build_graph(render_cluster(base.repo, base_config, name), (), _preinstalled(config))
        return base.commit, graphs


def graphs_against_base(
    head: dict[str, ClusterGraph], base: dict[str, ClusterGraph], only_changed: bool
) -> list[ClusterGraph]:
    out = []
    for name, graph in head.items():
        marked = diff_graphs(base.get(name), graph)
        out.append(changed_only(marked) if only_changed else marked)
    return out
