"""The capacity step of `check`: every workload fits its pools at maximum demand within their max sizes."""

from __future__ import annotations

from ..context import ClusterContext
from ..errors import ToolError
from ..model import Finding, Severity
from .plan import plan_cluster

RULE_UNPLACED = "capacity/unplaced"
RULE_MAX_SIZE = "capacity/max-size"
# `check` runs on every pull request: the exact solver gets less time than in `plan`.
CHECK_TIME_LIMIT_S = 1.0


def check_fit(ctx: ClusterContext) -> list[Finding]:
    if ctx.pool_file is None:
        return []
    try:
        plan = plan_cluster(
            ctx.cluster, ctx.manifests, ctx.pool_file, ctx.catalog, time_limit_s=CHECK_TIME_LIMIT_S
        )
    except ToolError:
        # An unusable pool (unknown instance type, ...) is reported by the pool rules, with its line.
        return []
    findings = [
        Finding.on(u.manifest, RULE_UNPLACED, Severity.ERROR, f"{u.name}: {u.reason}") for u in plan.unplaced
    ]
    for p in plan.pools:
        if p.fits_at_max:
            continue
        names = ", ".join(w.name for w in p.workloads[:5]) + (" ..." if len(p.workloads) > 5 else "")
        findings.append(
            Finding(
                rule=RULE_MAX_SIZE,
                severity=Severity.ERROR,
                message=(
                    f"pool {p.pool.name}: maximum demand needs {p.at_max.nodes} nodes of "
                    f"{p.pool.planning_instance_type}, max_size is {p.pool.max_size} (short by "
                    f"{p.at_max.nodes - p.pool.max_size}); raise max_size or lower the maximum replicas of: "
                    f"{names}"
                ),
                cluster=ctx.cluster,
                file=p.pool.file or ctx.pool_file.file,
                line=p.pool.line_of("max_size") or None,
            )
        )
    return findings
