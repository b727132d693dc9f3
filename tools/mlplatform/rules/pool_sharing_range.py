"""A pool whose time-slicing replicas or MIG instance count per GPU is outside the policy's range."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Severity
from ._base import RuleContext

ID = "policy/pool-sharing-range"
TITLE = "Pool GPU sharing outside the allowed range"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "The device plugin needs at least 2 time-slicing replicas, and each replica may use only 1/replicas of "
    "the GPU's memory: beyond the policy's maximum the share is too small for the models we run. A MIG "
    "layout needs at least one instance per GPU. The ranges are in policies/gpu-sharing.yaml; MIG geometry "
    "itself (placements, profile names) is checked by the pool file checks."
)
REMEDIATION = "Set the pool's time-slicing replicas or MIG layout within the range of policies/gpu-sharing.yaml."


def check(ctx: RuleContext) -> Iterator[Finding]:
    gs = ctx.policy.gpu_sharing
    ts, mig = gs["time_slicing_replicas"], gs["mig_instances_per_gpu"]  # typed, with defaults: _params.GPU_SHARING
    for pool in ctx.pools.values():
        if pool.gpu is None:
            continue
        problem = None
        if pool.time_sliced:
            replicas = pool.gpu.replicas or 0
            if not ts["min"] <= replicas <= ts["max"]:
                problem = f"time-slicing replicas {replicas} outside {ts['min']}..{ts['max']}"
        elif pool.mig:
            instances = sum((pool.gpu.mig_layout or {}).values())
            if not mig["min"] <= instances <= mig["max"]:
                problem = f"{instances} MIG instances per GPU outside {mig['min']}..{mig['max']}"
        if problem:
            yield Finding(
                ID,
                SEVERITY,
                f"pool {pool.name}: {problem} (policies/gpu-sharing.yaml)",
                cluster=ctx.name,
                file=pool.file or None,
                line=pool.line_of("gpu"),
            )
