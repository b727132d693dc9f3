"""Which pools every pod template of a cluster can land on, and why not the others (`rules --placement`)."""

from __future__ import annotations

from typing import Any

from ..context import ClusterContext
from ..errors import InputError
from ._base import build_context
from ._gpu_system import system_daemonsets
from ._policy import load_policy


def placement_rows(ctx: ClusterContext) -> list[dict[str, Any]]:
    """One row per pod template (and per GPU operator operand configured in HelmRelease values)."""
    policy = load_policy(ctx.repo, ctx.cluster)
    if policy.problems:
        # placements computed from defaults would mislead; the command stops at the first problem with exit 1
        # (cli/common.guarded: an InputError is a problem in a repository file), check reports them all
        first = policy.problems[0]
        raise InputError(f"{first.message} [{first.rule}]", first.file, first.line)
    rctx = build_context(ctx, policy)
    rows = []
    for info in rctx.templates:
        rows.append(
            {
                "cluster": ctx.cluster,
                "object": info.manifest.ref.to_json(),
                "template": info.tpl.role or ("trial" if info.tpl.parallel_trials is not None else None),
                "file": info.manifest.source.file,
                "line": info.manifest.source.line,
                "workload_type": info.workload_type,
                "fits": info.placement.fits,
                "not": info.placement.reasons,
            }
        )
    for ds in system_daemonsets(rctx):
        if ds.manifest.ref.kind != "HelmRelease":
            continue  # plain DaemonSets are rows above already
        reaches = [v.pool.name for v in rctx.index.views if ds.reaches(v.pool, v.labels) is None]
        rows.append(
            {
                "cluster": ctx.cluster,
                "object": ds.manifest.ref.to_json(),
                "template": ds.name,
                "file": ds.manifest.source.file,
                "line": ds.manifest.source.line,
                "workload_type": None,
                "fits": reaches,
                "not": {v.pool.name: why for v in rctx.index.views if (why := ds.reaches(v.pool, v.labels))},
            }
        )
    return rows
