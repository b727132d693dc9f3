"""Highly available workload types (production inference) running fewer than two replicas."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Manifest, Severity
from ._base import RuleContext, get_path

ID = "policy/ha-replicas"
TITLE = "Highly available workload with fewer than 2 replicas"
SEVERITY = Severity.ERROR
FIXABLE = True
RATIONALE = (
    "A single replica of production inference goes down with every node drain, MIG reconfiguration or "
    "spot-free scale-in. Workload types marked high_availability in policies/workload-pools.yaml need at "
    "least 2 replicas: spec.replicas, or the minimum of the HorizontalPodAutoscaler or KEDA ScaledObject "
    "that owns the count (KEDA's default minimum is 0). Fix: spec.replicas: 2 when no autoscaler owns it."
)

SCALED_KINDS = ("Deployment", "StatefulSet", "ReplicaSet")


def autoscaler_minimum(ctx: RuleContext, manifest: Manifest) -> tuple[Manifest, int] | None:
    """The autoscaler that owns the workload's replica count and its minimum, if any."""
    index = ctx.cache.get("autoscalers")
    if index is None:
        index = ctx.cache["autoscalers"] = _autoscaler_index(ctx)
    return index.get((manifest.ref.namespace, manifest.ref.kind, manifest.ref.name))


def _autoscaler_index(ctx: RuleContext) -> dict[tuple, tuple[Manifest, int]]:
    """(namespace, target kind, target name) -> (autoscaler, its minimum replicas)."""
    scalers = ctx.policy.workload_checks["autoscalers"]  # typed, with defaults: _params.WORKLOAD_CHECKS
    index: dict[tuple, tuple[Manifest, int]] = {}
    for kind, cfg in scalers.items():
        for scaler in ctx.by_kind(kind):
            target = get_path(scaler.obj, cfg["target"])
            if not isinstance(target, dict):
                continue
            # KEDA's scaleTargetRef defaults to a Deployment; an HPA names its kind.
            target_kind = target.get("kind") or ("Deployment" if kind == "ScaledObject" else "")
            minimum = get_path(scaler.obj, cfg["min_field"])
            index.setdefault(
                (scaler.ref.namespace, target_kind, target.get("name")),
                (scaler, minimum if isinstance(minimum, int) else int(cfg["default"])),
            )
    return index


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in ctx.templates:
        wtype = ctx.policy.types.get(info.workload_type or "")
        if wtype is None or not wtype.high_availability or info.kind not in SCALED_KINDS or info.tpl.role:
            continue
        owner = autoscaler_minimum(ctx, info.manifest)
        if owner is not None:
            scaler, minimum = owner
            if minimum < 2:
                message = (
                    f"{wtype.name} workload scales down to {minimum} replica(s): {scaler.ref} "
                    f"({scaler.source.file}) must keep a minimum of at least 2"
                )
                if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl):
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
            if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl, fix=fix):
                yield found
