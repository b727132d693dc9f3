"""A pod template that fits no node pool of its cluster: it would stay Pending forever."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Severity
from ..pool_rules import POOL_LABEL
from ..suggest import did_you_mean
from ._base import RuleContext
from ._placement_fix import placement_fix
from .efa_not_requested import efa_is_the_only_misfit
from .mig_profile_not_offered import missing_mig_resources

ID = "policy/fits-no-pool"
TITLE = "Pod template fits no node pool"
SEVERITY = Severity.ERROR
FIXABLE = True
RATIONALE = (
    "Simulating the scheduler (taints and tolerations, nodeSelector, required node affinity, CPU, memory, "
    "pods and GPU units of one empty node) against every pool of the cluster finds no pool that can run the "
    "pod: it would stay Pending, and cluster-autoscaler cannot help because no node group matches. "
    "DaemonSets are exempt (they run wherever they match, possibly nowhere). Fix: add the tolerations and "
    "nodeSelector of the pools the pod's workload type maps to (policies/workload-pools.yaml)."
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.pools:
        return
    for info in ctx.templates:
        if info.is_daemonset or info.placement.fits:
            continue
        if missing_mig_resources(ctx, info):
            continue  # mig-profile-not-offered says precisely why
        if efa_is_the_only_misfit(ctx, info):
            continue  # efa-not-requested: EFA requested, no EFA pool selected
        reasons = "; ".join(f"pool {pool}: {why}" for pool, why in info.placement.reasons.items())
        what = "GPU request" if info.uses_gpu else "pod"
        selector = info.spec.get("nodeSelector")
        wanted = selector.get(POOL_LABEL) if isinstance(selector, dict) else None
        hint = ""
        if isinstance(wanted, str) and wanted not in ctx.pools:
            hint = f"; nodeSelector {POOL_LABEL}: {wanted!r} names no pool{did_you_mean(wanted, ctx.pools)}"
        fix, note = placement_fix(ctx, info)
        if found := ctx.emit(
            ID,
            SEVERITY,
            info.manifest,
            f"{what}{info.where} fits no pool of this cluster ({reasons}){hint}",
            tpl=info.tpl,
            fix=fix,
            fix_note=note,
            at=info.tpl.pointer,  # the pod spec, where its placement and requests are written
        ):
            yield found
