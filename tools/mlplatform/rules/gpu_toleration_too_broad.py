"""A GPU pod whose toleration opens GPU pools its workload type may not use (`{key: gpu, operator: Exists}`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model import Finding, Pool, Severity, Taint
from ..scheduling import BLOCKING_EFFECTS, tolerates, untolerated
from ..yamlio import plain
from ._base import RuleContext, TemplateInfo

ID = "policy/gpu-toleration-too-broad"
TITLE = "GPU workload tolerates the taints of pools it may not use"
SEVERITY = Severity.WARNING
FIXABLE = True
RATIONALE = (
    "Each GPU pool's taint has its own value (gpu=true, gpu=mig, gpu=h100), so a workload tolerates exactly the "
    "pools its type may use (policies/workload-pools.yaml). A toleration such as {key: gpu, operator: Exists} "
    "tolerates every GPU pool: the nodeSelector is then the only thing keeping the pod off the others, and a "
    "change to it (or a second nodeSelector value, or an affinity that admits more) puts training on the MIG "
    "inference pool or inference on the H100s. Reported when a toleration matches a GPU taint (key in "
    "gpu_taint_keys) of a pool the type may not use, whose taints the pod then all tolerates, and no pool the "
    "type may use has that taint. DaemonSets are exempt (gpu-daemonset-coverage); a pod without a GPU "
    "request is cpu-tolerates-gpu-taint's."
)
REMEDIATION = (
    "Tolerate the taints of the type's pools one by one with operator: Equal and their value "
    "(e.g. {key: gpu, operator: Equal, value: mig, effect: NoSchedule}); `mlplatform fix` rewrites the list so."
)


def _allowed(ctx: RuleContext, info: TemplateInfo) -> list[str] | None:
    """The pools the template's type may use (untyped: the untyped pools); None for an unknown type, which
    pool-not-allowed reports."""
    wtype = info.workload_type
    if wtype is None:
        return list(ctx.policy.untyped_pools)
    known = ctx.policy.types.get(wtype)
    return None if known is None else list(known.pools)


def _equal(taint: Taint) -> dict[str, Any]:
    return {"key": taint.key, "operator": "Equal", "value": taint.value or "", "effect": taint.effect}


def _opened(pool: Pool, tolerations: list[dict[str, Any]]) -> bool:
    return not untolerated(tolerations, pool.taints)


def check(ctx: RuleContext) -> Iterator[Finding]:
    keys = set(ctx.policy.gpu_sharing["gpu_taint_keys"])  # typed, with defaults: _params.GPU_SHARING

    def gpu_taints(pool: Pool) -> list[Taint]:
        return [t for t in pool.taints if t.key in keys and t.effect in BLOCKING_EFFECTS]

    for info in ctx.templates:
        if info.is_daemonset or not info.uses_gpu:
            continue
        tolerations = info.spec.get("tolerations")
        allowed = _allowed(ctx, info)
        if not isinstance(tolerations, list) or allowed is None:
            continue
        tols = [t for t in tolerations if isinstance(t, dict)]
        allowed_taints = [t for name in allowed if name in ctx.pools for t in gpu_taints(ctx.pools[name])]
        wanted = {(t.key, t.value, t.effect) for t in allowed_taints}
        # pools outside the type whose every blocking taint the pod tolerates, and that carry a GPU taint
        opened = [p for name, p in ctx.pools.items() if name not in allowed and gpu_taints(p) and _opened(p, tols)]
        broad: list[tuple[int, list[str]]] = []  # index in `tolerations`, the pools it opens
        for index, tol in enumerate(tolerations):
            if not isinstance(tol, dict):
                continue
            pools = sorted({p.name for p in opened for t in gpu_taints(p)
                            if tolerates(tol, t) and (t.key, t.value, t.effect) not in wanted})
            if pools:
                broad.append((index, pools))
        if not broad:
            continue
        replaced: list[Any] = []
        broad_at = {i for i, _ in broad}
        for index, tol in enumerate(tolerations):
            if index not in broad_at:
                replaced.append(plain(tol))
                continue
            for taint in allowed_taints:  # what this toleration was there for, said exactly
                narrow = _equal(taint)
                if tolerates(tol, taint) and narrow not in replaced and narrow not in tolerations:
                    replaced.append(narrow)
        base = info.tpl.pointer + "/tolerations"
        fix = [{"op": "test", "path": base, "value": plain(tolerations)}, {"op": "replace", "path": base,
                                                                             "value": replaced}]
        described = "; ".join(f"tolerations[{i}] opens {', '.join(pools)}" for i, pools in broad)
        what = f"of type {info.workload_type}" if info.workload_type else "without a workload type"
        exact = ", ".join(dict.fromkeys(f"{t.key}={t.value or ''}:{t.effect}" for t in allowed_taints))
        todo = (f"tolerate {exact} with operator: Equal instead (`mlplatform fix` does it)" if exact
                else "remove it (`mlplatform fix` does it)")
        message = (f"pod{info.where} {what} tolerates GPU pools it may not use "
                   f"(allowed: {', '.join(allowed) or 'none'}): {described}; only its nodeSelector keeps it off "
                   f"them; {todo}")
        if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl, fix=fix, at=f"{base}/{broad[0][0]}"):
            yield found
