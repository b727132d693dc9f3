"""Workloads that can run on spot capacity without a checkpoint to resume from."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Severity
from ._base import RuleContext, iter_containers

ID = "policy/spot-checkpoint"
TITLE = "Spot workload without checkpointing"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "Spot nodes are reclaimed with two minutes' notice; work without a checkpoint starts over each time, "
    "which costs more than on-demand. A pod that can be scheduled on a spot pool must declare where it "
    "checkpoints: the annotation mlplatform.example.com/checkpoint-path (on the pod template or object), or "
    "a volume named `checkpoints` on durable storage (PVC, ephemeral claim or CSI; not emptyDir or hostPath) "
    "mounted by every GPU container (policies/workload-checks.yaml)."
)
REMEDIATION = (
    "Annotate the pod template with mlplatform.example.com/checkpoint-path, or mount a durable "
    "`checkpoints` volume in every GPU container."
)


def spot_targets(ctx: RuleContext, selectable: list[str]) -> list[str]:
    return [n for n in selectable if (pool := ctx.pools.get(n)) and pool.spot]


def check(ctx: RuleContext) -> Iterator[Finding]:
    cfg = ctx.policy.workload_checks["checkpoint"]  # typed, with defaults: _params.WORKLOAD_CHECKS
    annotation = cfg["annotation"]
    names = set(cfg["volume_names"])
    durable = set(cfg["durable_volume_sources"])
    for info in ctx.templates:
        if info.is_daemonset:
            continue
        spot = spot_targets(ctx, info.placement.selectable)
        if not spot:
            continue
        if str(info.tpl.annotations.get(annotation) or "").strip():
            continue
        volumes = {v.get("name"): v for v in info.spec.get("volumes") or [] if isinstance(v, dict)}
        checkpoint_volumes = {n for n, v in volumes.items() if n in names and durable & set(v)}
        workers = [
            c
            for _, _, c in iter_containers(info, include_init=False)
            if not info.uses_gpu
            or any(str(r).startswith("nvidia.com/") for r in ((c.get("resources") or {}).get("limits") or {}))
        ]
        mounted = checkpoint_volumes and all(
            any(isinstance(m, dict) and m.get("name") in checkpoint_volumes for m in c.get("volumeMounts") or [])
            for c in workers
        )
        if mounted:
            continue
        why = (
            "its checkpoint volume is not mounted by every worker container"
            if checkpoint_volumes
            else f"it has neither the {annotation} annotation nor a durable volume named {' or '.join(sorted(names))}"
        )
        message = f"pod{info.where} can run on spot pool(s) {', '.join(spot)} but {why}"
        if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl):
            yield found
