"""Highly available workload types (production inference) running fewer than two replicas."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Severity
from ._base import RuleContext

ID = "policy/ha-replicas"
TITLE = "Highly available workload with fewer than 2 replicas"
SEVERITY = Severity.ERROR
FIXABLE = True
RATIONALE = (
    "A single replica of production inference goes down with every node drain, MIG reconfiguration or "
    "spot-free scale-in. Workload types marked high_availability in policies/workload-pools.yaml need at "
    "least 2 replicas: spec.replicas, or the minimum of the HorizontalPodAutoscaler or KEDA ScaledObject "
    "that owns the count (KEDA's default minimum is 0; a ScaledObject wins over an HPA on the same target). "
    "Fix: spec.replicas: 2 when no autoscaler owns it."
)

SCALED_KINDS = ("Deployment", "StatefulSet", "ReplicaSet")


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in ctx.templates:
        wtype = ctx.policy.types.get(info.workload_type or "")
        if wtype is None or not wtype.high_availability or info.kind not in SCALED_KINDS or info.tpl.role:
            continue
        # The autoscaler resolver of the cluster model: the capacity plan reads the same range.
        scale = ctx.cluster.model.scale_of(info.manifest)
        if scale is not None:
            scaler, minimum = scale.scaler, scale.minimum
            if minimum < 2:
                message = (
                    f"{wtype.name} workload scales down to {minimum} replica(s): {scaler.ref} "
                    f"({scaler.source.file}) must keep a minimum of at least 2"
                )
                # the minimum to raise is the scaler's, in the scaler's file
                hpa = scaler.ref.kind == "HorizontalPodAutoscaler"
                field = "/spec/minReplicas" if hpa else "/spec/minReplicaCount"
                if found := ctx.emit(ID, SEVERITY, info.manifest, message, at=field, at_object=scaler):
                    yield found
            continue
        replicas = info.tpl.replicas or 0
        if replicas < 2:
            spec = info.manifest.obj.get("spec") or {}
            op = "replace" if "replicas" in spec else "add"
            fix = (
                [{"op": "test", "path": "/spec/replicas", "value": spec.get("replicas")}] if op == "replace" else []
            ) + [{"op": op, "path": "/spec/replicas", "value": 2}]
            message = f"{wtype.name} workload runs {replicas} replica(s) and no autoscaler; it needs at least 2"
            if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl, fix=fix, at="/spec/replicas"):
                yield found
