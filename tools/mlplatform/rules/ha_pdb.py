"""Highly available workload types without a PodDisruptionBudget that keeps a replica up during drains."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Severity
from ._base import RuleContext
from ._selectors import selector_matches
from .ha_replicas import SCALED_KINDS

ID = "ha-pdb"
TITLE = "Highly available workload without a PodDisruptionBudget"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "Node drains (upgrades, scale-in, MIG layout changes that reboot a node) evict every pod of a node at "
    "once unless a PodDisruptionBudget limits it. Workload types marked high_availability need a PDB in "
    "their namespace whose selector matches their pods and that keeps at least one pod (minAvailable >= 1 "
    "or maxUnavailable below 100%)."
)


def _protects(pdb: dict) -> bool:
    spec = pdb.get("spec") or {}
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is not None:
        return min_available not in (0, "0", "0%")
    if max_unavailable is not None:
        return max_unavailable != "100%"
    return False  # neither set: the PDB allows every disruption


def check(ctx: RuleContext) -> Iterator[Finding]:
    pdbs = [m for m in ctx.manifests if m.ref.kind == "PodDisruptionBudget"]
    for info in ctx.templates:
        wtype = ctx.policy.types.get(info.workload_type or "")
        if wtype is None or not wtype.high_availability or info.tpl.kind not in SCALED_KINDS or info.tpl.role:
            continue
        labels = dict(info.tpl.pod_metadata.get("labels") or {})
        matching = [
            p
            for p in pdbs
            if p.ref.namespace == info.manifest.ref.namespace
            and selector_matches((p.obj.get("spec") or {}).get("selector"), labels)
        ]
        if any(_protects(p.obj) for p in matching):
            continue
        if matching:
            message = (
                f"{wtype.name} workload: PodDisruptionBudget {matching[0].ref.name} allows every pod to be "
                f"evicted; set minAvailable >= 1 or maxUnavailable below 100%"
            )
        else:
            message = (
                f"{wtype.name} workload has no PodDisruptionBudget in namespace "
                f"{info.manifest.ref.namespace} whose selector matches its pods"
            )
        if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl):
            yield found
