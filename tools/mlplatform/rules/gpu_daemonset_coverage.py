"""A GPU system DaemonSet (device plugin, GFD, DCGM exporter, MIG manager, NFD) that misses a GPU pool."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model import Finding, Severity
from ..scheduling import untolerated
from ._base import RuleContext
from ._gpu_system import SystemDaemonSet, add_tolerations_patch, system_daemonsets

ID = "policy/gpu-daemonset-coverage"
TITLE = "GPU system DaemonSet misses a GPU pool"
SEVERITY = Severity.ERROR
FIXABLE = True
RATIONALE = (
    "The device plugin, GPU Feature Discovery, DCGM exporter, MIG manager and NFD worker must run on every "
    "GPU node: without the device plugin a node advertises no nvidia.com/gpu and every GPU pod stays "
    "Pending (NVIDIA/k8s-device-plugin#1934). Our pools taint key `gpu` (values true, mig, h100) and `spot`, "
    "which the charts' default toleration (nvidia.com/gpu) does not cover. The DaemonSets are found by name "
    "and label (policies/gpu-daemonsets.yaml) and, for the GPU Operator, from the HelmRelease values "
    "(daemonsets.tolerations, node-feature-discovery.worker.tolerations). MIG-only operands are checked "
    "against MIG pools only. Fix: add {key: <taint key>, operator: Exists} tolerations for the missed taints."
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    gpu_pools = ctx.gpu_pools()
    if not gpu_pools:
        return
    labels = {v.pool.name: v.labels for v in ctx.index.views}
    # Operands of one HelmRelease that share a tolerations list get one finding with one fix.
    groups: dict[
        tuple[int, tuple[str | int, ...] | str], list[tuple[SystemDaemonSet, dict[str, str], list[dict[str, Any]]]]
    ] = {}
    for ds in system_daemonsets(ctx):
        pools = [p for p in gpu_pools if not ds.mig_only or p.mig]
        missed = {p.name: why for p in pools if (why := ds.reaches(p, labels[p.name]))}
        if not missed:
            continue
        new: list[dict[str, Any]] = []
        for pool in pools:
            for taint in untolerated(ds.pod_spec.get("tolerations") or [], pool.taints):
                tol = {"key": taint.key, "operator": "Exists", "effect": taint.effect}
                if tol not in new:
                    new.append(tol)
        key = (id(ds.manifest), ds.tolerations_path or ds.name)
        groups.setdefault(key, []).append((ds, missed, new))
    for members in groups.values():
        ds = members[0][0]
        new = []
        for _, _, wanted in members:
            new += [t for t in wanted if t not in new]
        fix = add_tolerations_patch(ds, ds.manifest.obj, new) if new else None
        parts = []
        for member, missed, _ in members:
            detail = "; ".join(f"{pool}: {why}" for pool, why in missed.items())
            parts.append(f"{member.name} does not reach GPU pool(s) {', '.join(missed)} ({detail})")
        if found := ctx.emit(ID, SEVERITY, ds.manifest, "; ".join(parts), fix=fix, at=ds.tolerations_at):
            yield found
