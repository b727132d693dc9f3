"""Highly available workload types whose replicas may all land in one availability zone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model import Finding, Severity
from ._base import RuleContext, as_dict, as_list
from ._selectors import selector_matches
from .ha_replicas import SCALED_KINDS

ID = "policy/ha-zone-spread"
TITLE = "Highly available workload not spread across zones"
SEVERITY = Severity.ERROR
FIXABLE = True
RATIONALE = (
    "Replicas in one availability zone fail together. Workload types marked high_availability need a "
    "topologySpreadConstraint on topology.kubernetes.io/zone whose labelSelector matches their own pods "
    "(ScheduleAnyway is accepted: GPU capacity is rarely in every zone), or a pod anti-affinity on that key. "
    "Fix: add a zone spread constraint (maxSkew 1, ScheduleAnyway) selecting the workload's pods."
)
ZONE = "topology.kubernetes.io/zone"


def _spreads(spec: dict[str, Any], labels: dict[str, str]) -> bool:
    for tsc in spec.get("topologySpreadConstraints") or []:
        if (
            isinstance(tsc, dict)
            and tsc.get("topologyKey") == ZONE
            and selector_matches(tsc.get("labelSelector"), labels)
        ):
            return True
    anti = as_dict(as_dict(spec.get("affinity")).get("podAntiAffinity"))
    terms = list(as_list(anti.get("requiredDuringSchedulingIgnoredDuringExecution")))
    terms += [
        t.get("podAffinityTerm")
        for t in as_list(anti.get("preferredDuringSchedulingIgnoredDuringExecution"))
        if isinstance(t, dict)
    ]
    return any(
        isinstance(t, dict) and t.get("topologyKey") == ZONE and selector_matches(t.get("labelSelector"), labels)
        for t in terms
    )


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in ctx.templates:
        wtype = ctx.policy.types.get(info.workload_type or "")
        if wtype is None or not wtype.high_availability or info.kind not in SCALED_KINDS or info.tpl.role:
            continue
        labels = dict(info.tpl.pod_metadata.get("labels") or {})
        if _spreads(info.spec, labels):
            continue
        spec_selector = as_dict(as_dict(info.manifest.obj.get("spec")).get("selector"))
        selector = as_dict(spec_selector.get("matchLabels")) or labels
        constraint: dict[str, Any] = {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(selector)},
        }
        base = info.tpl.pointer + "/topologySpreadConstraints"
        if isinstance(info.spec.get("topologySpreadConstraints"), list):
            fix: list[dict[str, Any]] = [{"op": "add", "path": base + "/-", "value": constraint}]
        else:
            fix = [{"op": "add", "path": base, "value": [constraint]}]
        message = (
            f"{wtype.name} workload has no topologySpreadConstraint (or pod anti-affinity) on {ZONE} selecting its pods"
        )
        if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl, fix=fix, at=base):
            yield found
