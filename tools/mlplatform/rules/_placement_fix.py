"""The fix for a pod that cannot reach the pools its workload type maps to: add what it lacks, nothing else.

policies/workload-pools.yaml maps each workload type to its pools. A pod template of that type that fits no
pool (a toleration is missing) or may land elsewhere (a nodeSelector is missing) gets, as a JSON Patch on its
pod spec: an `Equal` toleration for each taint of the type's pools that it does not tolerate, and the
nodeSelector label those pools carry for the type. The patched spec is placed again against the pools; only a
patch after which the pod fits some allowed pool and no other is offered. Resource counts are never touched.
"""

from __future__ import annotations

from typing import Any

from ..pool_rules import POOL_LABEL
from ..scheduling import resource_shortfall, untolerated
from ._base import RuleContext, TemplateInfo, pointer

TYPE_LABEL_PREFIX = "workload-type.mlplatform.example.com/"


def _selector_label(ctx: RuleContext, wtype: str, pools: list[str]) -> tuple[str, str] | None:
    """The node label every one of `pools` carries for this type (or the pool label, for a single pool)."""
    key = TYPE_LABEL_PREFIX + wtype
    if pools and all(ctx.pools[p].labels.get(key) == "true" for p in pools):
        return key, "true"
    if len(pools) == 1:
        return POOL_LABEL, pools[0]
    return None


def placement_fix(ctx: RuleContext, info: TemplateInfo) -> tuple[list[dict[str, Any]] | None, str | None]:
    """(JSON Patch, None) that sends the template to its type's pools, or (None, why there is none)."""
    wtype = ctx.policy.types.get(info.workload_type or "")
    if wtype is None:
        label = ctx.policy.workload_type_label
        return None, f"the pod has no known workload type ({label}); set it, then run fix again"
    views = {v.pool.name: v for v in ctx.index.views}
    targets = [p for p in wtype.pools if p in views and resource_shortfall(info.requests, views[p].free) is None]
    if not targets:
        return None, (f"no pool of type {wtype.name} ({', '.join(wtype.pools) or 'none'}) has room for the pod's "
                      "requests; change the requests or the pools by hand")
    spec = info.spec
    base = info.tpl.pointer
    patch: list[dict[str, Any]] = []
    tolerations = raw if isinstance(raw := spec.get("tolerations"), list) else []
    added: list[dict[str, Any]] = []
    for name in targets:
        for taint in untolerated(tolerations + added, views[name].taints):
            toleration = {"key": taint.key, "operator": "Equal", "value": taint.value or "", "effect": taint.effect}
            if taint.value is None:
                toleration = {"key": taint.key, "operator": "Exists", "effect": taint.effect}
            added.append(toleration)
    if added:
        if isinstance(spec.get("tolerations"), list):
            patch += [{"op": "add", "path": f"{base}/tolerations/-", "value": t} for t in added]
        else:
            patch.append({"op": "add", "path": f"{base}/tolerations", "value": added})
    selector = spec.get("nodeSelector") if isinstance(spec.get("nodeSelector"), dict) else None
    new_spec = {**spec, "tolerations": tolerations + added}
    outside = [p for p in ctx.index.place(new_spec, info.requests).fits if p not in wtype.pools]
    if outside:
        node_label = _selector_label(ctx, wtype.name, targets)
        if node_label is None:
            return None, (f"no node label selects exactly the pools of type {wtype.name}; add a nodeSelector "
                          "for the pool you mean by hand")
        key, value = node_label
        if selector is not None and key in selector:
            return None, f"the nodeSelector already sets {key}; choose the pool by hand"
        if selector is not None:
            patch.append({"op": "add", "path": f"{base}/nodeSelector{pointer(key)}", "value": value})
        else:
            patch.append({"op": "add", "path": f"{base}/nodeSelector", "value": {key: value}})
        new_spec["nodeSelector"] = {**(selector or {}), key: value}
    after = ctx.index.place(new_spec, info.requests).fits
    if not after or any(p not in wtype.pools for p in after):
        return None, (f"adding tolerations and a nodeSelector for type {wtype.name} does not place the pod on "
                      f"{', '.join(wtype.pools)} alone (its nodeSelector or affinity points elsewhere); fix by hand")
    return (patch or None), (None if patch else "nothing to add: the pod's own selection keeps it off its pools")
