"""The capacity step of `check`: every workload fits its pools at maximum demand within their max sizes,
under the scheduler's constraints; rollouts do not stall; critical workloads survive a node and a zone loss."""

from __future__ import annotations

from ..context import ClusterContext
from ..errors import ToolError
from ..model import Cause, Finding, Severity, schema_cause
from .facts import read_facts
from .headroom import Scenario
from .plan import ClusterPlan, PoolPlan, Unplaced, plan_cluster

RULE_UNPLACED = "capacity/unplaced"
RULE_MAX_SIZE = "capacity/max-size"
RULE_CONSTRAINT = "capacity/constraint"
RULE_ROLLOUT = "capacity/rollout"
RULE_HEADROOM = "capacity/failure-headroom"
# `check` runs on every pull request: the exact solver gets less time than in `plan`.
CHECK_TIME_LIMIT_S = 1.0


def check_fit(ctx: ClusterContext) -> list[Finding]:
    if ctx.pool_file is None:
        return []
    try:
        plan = plan_cluster(
            ctx.cluster, ctx.manifests, ctx.pool_file, ctx.catalog, time_limit_s=CHECK_TIME_LIMIT_S,
            facts=read_facts(ctx.repo, ctx.cluster), model=ctx.model,
        )
    except ToolError:
        # An unusable pool (unknown instance type, ...) is reported by the pool rules, with its line.
        return []
    return plan_findings(ctx, plan)


def plan_findings(ctx: ClusterContext, plan: ClusterPlan) -> list[Finding]:
    findings = [
        Finding.on(u.manifest, RULE_UNPLACED, Severity.ERROR, f"{u.name}: {u.reason}",
                   # a template of the wrong shape was placed as far as it could be read: schema/invalid says
                   # which field is wrong, and this finding folds into it (consolidate.py)
                   follows=schema_cause(u.manifest) if u.workload is not None and u.workload.misfit else None)
        for u in plan.unplaced
        if not _owned_by_placement_rule(ctx, u)
    ]
    for p in plan.pools:
        if not p.fits_at_max:
            # Rollouts and failures are moot while the maximum demand itself does not fit: one cause, one error.
            findings.extend(_max_size(ctx, p))
        else:
            findings.extend(_rollouts(p))
            findings.extend(_survival(p))
    return findings


def _owned_by_placement_rule(ctx: ClusterContext, u: Unplaced) -> bool:
    """A pod template no pool admits at all is the rule fits-no-pool's finding (or the more precise
    mig-profile-not-offered / efa-not-requested it defers to), made from the same placement of the same
    cluster model: one owner, so exempting it silences it. The fit keeps what only it sees: host ports
    taken by DaemonSets, templates the rules do not read (a ScaledJob's job), and pods a pool's affinity or
    spread constraints leave out."""
    w = u.workload
    return w is not None and u.pool is None and not ctx.model.placement(w).fits and ctx.model.read_by_rules(w)


def _max_size(ctx: ClusterContext, p: PoolPlan) -> list[Finding]:
    assert ctx.pool_file is not None
    # Most replicas first, each with its range's source: a raised maxReplicaCount is what usually grew.
    biggest = sorted(p.workloads, key=lambda w: (-w.max_replicas, w.name))
    names = ", ".join(f"{w.name} (up to {w.max_replicas}, {w.scaled_by})" for w in biggest[:5]) + (
        f" and {len(biggest) - 5} more" if len(biggest) > 5 else "")
    binding = p.binding
    file, line = p.pool.file or ctx.pool_file.file, p.pool.line_of("max_size") or None
    out = [
        Finding(
            rule=RULE_MAX_SIZE,
            severity=Severity.ERROR,
            message=(
                f"pool {p.pool.name}: maximum demand needs {p.at_max.nodes} nodes of "
                f"{p.pool.planning_instance_type}, max_size is {p.pool.max_size} (short by "
                f"{p.at_max.nodes - p.pool.max_size})" + (f", driven by {binding}" if binding else "")
                + f"; raise max_size or lower the maximum replicas of: {names}"
            ),
            cluster=ctx.cluster,
            file=file,
            line=line,
            # max_size below min_size: pool/sizes reports it at this line, and this finding folds into it
            follows=Cause(file, ("pool/sizes",), line=line) if line else None,
        )
    ]
    # A workload whose own constraint alone needs more nodes than the pool may have: say so where it is written.
    level = p.max_level
    if level is None:
        return out
    for bound in level.bounds:
        if bound.nodes <= p.pool.max_size or len(bound.items) != 1 or bound.reason.startswith("resources"):
            continue
        if bound.reason.endswith(": its own resources"):
            continue
        for w in level.members[bound.items[0]]:
            out.append(
                Finding.on(
                    w.manifest,
                    RULE_CONSTRAINT,
                    Severity.ERROR,
                    f"{bound.reason}; at maximum demand ({w.scaled_by}) it needs at least {bound.nodes} nodes "
                    f"of pool {p.pool.name}, max_size is {p.pool.max_size}",
                )
            )
    return out


def _rollouts(p: PoolPlan) -> list[Finding]:
    out = []
    for r in p.headroom.rollouts if p.headroom else []:
        if r.fits:
            continue
        room = (f"{r.unplaced} surge pod(s) fit no node ({r.why})" if r.unplaced
                else f"{r.nodes_needed} nodes needed, max_size is {p.pool.max_size}")
        if r.stalls:
            message = (f"{r.workload.name}: a rollout at maximum demand stalls on pool {p.pool.name}: maxSurge "
                       f"{r.surge}, maxUnavailable 0, and not one surge pod fits ({room})")
            severity = Severity.ERROR
        else:
            message = (f"{r.workload.name}: a rollout at maximum demand cannot start all {r.surge} surge pods on "
                       f"pool {p.pool.name} ({room}); it proceeds maxUnavailable {r.unavailable} at a time")
            severity = Severity.WARNING
        out.append(Finding.on(r.workload.manifest, RULE_ROLLOUT, severity, message))
    return out


def _survival(p: PoolPlan) -> list[Finding]:
    out: list[Finding] = []
    if p.headroom is None:
        return out
    for scenario in (p.headroom.node_loss, p.headroom.zone_loss):
        if scenario.critical_fits:
            continue
        for w in scenario.critical:
            out.append(Finding.on(w.manifest, RULE_HEADROOM, Severity.ERROR, _survival_message(p, w.name, scenario)))
    return out


def _survival_message(p: PoolPlan, name: str, s: Scenario) -> str:
    level = s.critical_level or s.packing
    return (
        f"{name} (critical) does not survive the {s.cause} of pool {p.pool.name} at maximum demand: it and the "
        f"pods of its priority and above need {level.result.nodes} node(s), {s.nodes_available} remain of "
        f"max_size {p.pool.max_size}"
    )
