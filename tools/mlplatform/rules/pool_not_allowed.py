"""A workload that the scheduler could place on a pool its workload type is not allowed on."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Severity
from ..suggest import closest, did_you_mean
from ._base import RuleContext, TemplateInfo, pointer
from ._placement_fix import placement_fix

ID = "policy/pool-not-allowed"
TITLE = "Workload can land on a pool its type is not allowed on"
SEVERITY = Severity.ERROR
FIXABLE = True
RATIONALE = (
    "policies/workload-pools.yaml maps each workload type (pod label mlplatform.example.com/workload-type) "
    "to the pools it may use, so that production inference keeps its MIG isolation, spot capacity only runs "
    "work that checkpoints, and expensive GPUs do not run CPU work. The scheduling simulation lists every "
    "pool the pod could be bound to; any pool outside the type's list is a finding. A pod without a type "
    "may only use the untyped pools; an unknown type is a finding. DaemonSets are exempt (see "
    "gpu-daemonset-coverage). Fix: add the nodeSelector (and tolerations) of the type's pools."
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.pools:
        return
    policy = ctx.policy
    for info in ctx.templates:
        if info.is_daemonset:
            continue
        wtype = info.workload_type
        if wtype is None:
            allowed, what = policy.untyped_pools, f"without a {policy.workload_type_label} label"
        elif wtype in policy.types:
            allowed, what = policy.types[wtype].pools, f"of type {wtype}"
        else:
            known = ", ".join(sorted(policy.types))
            if found := ctx.emit(
                ID,
                SEVERITY,
                info.manifest,
                f"pod{info.where} has unknown workload type {wtype!r} (known: {known})"
                f"{did_you_mean(wtype, policy.types)}",
                tpl=info.tpl,
                fix_note="the workload type is a choice: set a known one",
                at=_label_at(info, policy.workload_type_label),
            ):
                yield found
            continue
        wrong = [p for p in info.placement.fits if p not in allowed]
        if wrong:
            # An allowed pool that the cluster does not have is most likely misspelt in the policy file.
            typos = [f"{a!r} is no pool here, did you mean {m!r}?" for a in allowed
                     if a not in ctx.pools and (m := closest(a, ctx.pools))]
            message = (
                f"pod{info.where} {what} can land on pool(s) {', '.join(wrong)}; allowed: "
                f"{', '.join(allowed) or 'none'} (select the allowed pool with a nodeSelector and "
                f"tolerate only its taint)" + (f"; policies/workload-pools.yaml: {'; '.join(typos)}" if typos else "")
            )
            fix, note = placement_fix(ctx, info) if wtype is not None else (None, None)
            if wtype is None:
                note = f"pods without a type may use {', '.join(allowed) or 'no pool'}; select one, or set the type"
            if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl, fix=fix, fix_note=note,
                                 at=info.tpl.pointer + "/nodeSelector"):
                yield found


def _label_at(info: TemplateInfo, label: str) -> str:
    """The line that sets the workload type: the pod template's label, else the object's (workload_type_of)."""
    if label in (info.tpl.pod_metadata.get("labels") or {}):
        return info.tpl.metadata_pointer + pointer("labels", label)
    return pointer("metadata", "labels", label)
