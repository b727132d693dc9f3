"""A GPU-only system DaemonSet that can also run on CPU pools, where it crash-loops."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Severity
from ._base import RuleContext
from ._gpu_system import system_daemonsets

ID = "policy/gpu-daemonset-on-cpu-pool"
TITLE = "GPU-only DaemonSet runs on CPU pools"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "A device plugin, GFD or DCGM exporter pod on a node without GPUs finds no NVML library and "
    "crash-loops (eksctl#8858), taking CPU and memory on every CPU node and paging on-call. GPU-only "
    'DaemonSets must select GPU nodes, e.g. nodeSelector nvidia.com/gpu.present: "true" or the GPU '
    "Operator's nvidia.com/gpu.deploy.<operand> labels (docs/facts.md#known-failure-modes)."
)
REMEDIATION = "Give the DaemonSet a nodeSelector or node affinity for GPU nodes (nvidia.com/gpu.present: \"true\")."


def check(ctx: RuleContext) -> Iterator[Finding]:
    gpu_names = {p.name for p in ctx.gpu_pools()}
    cpu_views = [v for v in ctx.index.views if v.pool.name not in gpu_names]
    if not cpu_views:
        return
    for ds in system_daemonsets(ctx):
        if not ds.gpu_only:
            continue
        landed = [v.pool.name for v in cpu_views if ds.reaches(v.pool, v.labels) is None]
        if landed:
            message = (
                f"{ds.name} can run on CPU pool(s) {', '.join(landed)}; select GPU nodes only "
                f'(nodeSelector nvidia.com/gpu.present: "true")'
            )
            if found := ctx.emit(ID, SEVERITY, ds.manifest, message, at=ds.selection_at):
                yield found
