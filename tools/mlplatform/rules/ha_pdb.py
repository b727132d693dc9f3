"""Highly available workload types without a PodDisruptionBudget that keeps a replica up during drains."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model import Finding, Manifest, Severity
from ._base import RuleContext, as_dict
from ._selectors import selector_matches
from .ha_replicas import SCALED_KINDS

ID = "policy/ha-pdb"
TITLE = "Highly available workload without a PodDisruptionBudget"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "Node drains (upgrades, scale-in, MIG layout changes that reboot a node) evict every pod of a node at "
    "once unless a PodDisruptionBudget limits it. Workload types marked high_availability need a PDB in "
    "their namespace whose selector matches their pods and that keeps at least one pod (minAvailable >= 1 "
    "or maxUnavailable below 100%)."
)
REMEDIATION = (
    "Add a PodDisruptionBudget in the namespace whose selector matches the pods, with minAvailable >= 1 "
    "or maxUnavailable below 100%."
)


def _protects(pdb: dict[str, Any]) -> bool:
    spec = as_dict(pdb.get("spec"))
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is not None:
        return min_available not in (0, "0", "0%")
    if max_unavailable is not None:
        return bool(max_unavailable != "100%")
    return False  # neither set: the PDB allows every disruption


def check(ctx: RuleContext) -> Iterator[Finding]:
    # Index by (namespace, one matchLabels pair); PDBs without matchLabels are candidates for every pod.
    by_label: dict[tuple[str | None, Any, str], list[Manifest]] = {}
    unlabelled: dict[str | None, list[Manifest]] = {}
    for pdb in ctx.by_kind("PodDisruptionBudget"):
        match_labels = as_dict(as_dict(as_dict(pdb.obj.get("spec")).get("selector")).get("matchLabels"))
        if match_labels:
            key = min(match_labels, key=str)
            by_label.setdefault((pdb.ref.namespace, key, str(match_labels[key])), []).append(pdb)
        else:
            unlabelled.setdefault(pdb.ref.namespace, []).append(pdb)
    for info in ctx.templates:
        wtype = ctx.policy.types.get(info.workload_type or "")
        if wtype is None or not wtype.high_availability or info.kind not in SCALED_KINDS or info.tpl.role:
            continue
        labels = dict(info.tpl.pod_metadata.get("labels") or {})
        namespace = info.namespace
        candidates = list(unlabelled.get(namespace, []))
        for key, value in labels.items():
            candidates += by_label.get((namespace, key, str(value)), [])
        matching = [p for p in candidates if selector_matches(as_dict(p.obj.get("spec")).get("selector"), labels)]
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
        if matching:  # the budget to change is the PDB's, in its own file
            pdb = matching[0]
            budget = "minAvailable" if "minAvailable" in as_dict(pdb.obj.get("spec")) else "maxUnavailable"
            found = ctx.emit(ID, SEVERITY, info.manifest, message, at=f"/spec/{budget}", at_object=pdb)
        else:  # the pod labels a PodDisruptionBudget must select
            found = ctx.emit(ID, SEVERITY, info.manifest, message, at=info.tpl.metadata_pointer + "/labels")
        if found:
            yield found
