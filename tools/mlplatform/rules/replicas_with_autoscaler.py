"""A Deployment or StatefulSet that declares spec.replicas while an HPA or a KEDA ScaledObject owns the count."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Severity
from ._base import RuleContext
from .ha_replicas import SCALED_KINDS

ID = "policy/replicas-with-autoscaler"
TITLE = "spec.replicas declared beside an autoscaler"
SEVERITY = Severity.ERROR
FIXABLE = True
RATIONALE = (
    "When a HorizontalPodAutoscaler (or the one KEDA creates for a ScaledObject) owns a workload's replica "
    "count, a spec.replicas in the manifest is applied again on every Flux reconcile: the Deployment is "
    "scaled to that number, then the autoscaler scales it back, so pods are killed and started for nothing "
    "and a scaled-up service drops to the declared count under load (Kubernetes documentation, Horizontal Pod "
    "Autoscaling, \"Migrating Deployments and StatefulSets to horizontal autoscaling\"). apps/README.md asks "
    "for no replicas field on an autoscaled workload."
)
REMEDIATION = (
    "Remove spec.replicas from the manifest (`mlplatform fix` does it); the autoscaler's minimum says how few "
    "pods run."
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in ctx.templates:
        if info.kind not in SCALED_KINDS or info.tpl.role:
            continue
        spec = info.manifest.obj.get("spec")
        if not isinstance(spec, dict) or "replicas" not in spec:
            continue
        scale = ctx.cluster.model.scale_of(info.manifest)
        if scale is None:
            continue
        fix = [{"op": "test", "path": "/spec/replicas", "value": spec["replicas"]},
               {"op": "remove", "path": "/spec/replicas"}]
        message = (
            f"spec.replicas {spec['replicas']} beside {scale.source} (replicas {scale.minimum}-{scale.maximum}): "
            "every Flux reconcile scales the workload back to it; remove spec.replicas"
        )
        if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl, fix=fix, at="/spec/replicas"):
            yield found
