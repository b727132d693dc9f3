"""A pod that requests no GPU but tolerates a GPU pool's taint: it can take GPU nodes from GPU work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model import Finding, Severity
from ..scheduling import BLOCKING_EFFECTS, tolerates
from ..yamlio import plain
from ._base import RuleContext

ID = "policy/cpu-tolerates-gpu-taint"
TITLE = "CPU-only workload tolerates a GPU taint"
SEVERITY = Severity.ERROR
FIXABLE = True
RATIONALE = (
    "GPU pools are tainted so that only GPU work lands there. A toleration such as {key: gpu, operator: "
    "Exists} (or an empty key with Exists) on a pod that requests no GPU lets it fill GPU nodes and keeps "
    "them from scaling down. Only GPU system DaemonSets tolerate GPU taints broadly "
    "(docs/facts.md#known-failure-modes); DaemonSets are therefore exempt. Fix: remove the tolerations that "
    "match a GPU taint."
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    keys = set(ctx.policy.gpu_sharing["gpu_taint_keys"])  # typed, with defaults: _params.GPU_SHARING
    gpu_taints = {
        (pool.name, taint)
        for pool in ctx.gpu_pools()
        for taint in pool.taints
        if taint.key in keys and taint.effect in BLOCKING_EFFECTS
    }
    if not gpu_taints:
        return
    for info in ctx.templates:
        if info.is_daemonset or info.uses_gpu:
            continue
        tolerations = info.spec.get("tolerations")
        if not isinstance(tolerations, list):
            continue
        bad: list[tuple[int, dict[str, Any], list[str]]] = []
        for i, tol in enumerate(tolerations):
            if not isinstance(tol, dict):
                continue
            pools = sorted({name for name, taint in gpu_taints if tolerates(tol, taint)})
            if pools:
                bad.append((i, tol, pools))
        if not bad:
            continue
        base = info.tpl.pointer + "/tolerations"
        fix: list[dict[str, Any]] = []
        if len(bad) == len(tolerations):  # none left: drop the key rather than leave `tolerations: []`
            fix = [{"op": "test", "path": base, "value": plain(tolerations)}, {"op": "remove", "path": base}]
        for i, tol, _ in reversed(bad if not fix else []):  # highest index first: earlier ones stay valid
            fix += [
                {"op": "test", "path": f"{base}/{i}", "value": plain(tol)},
                {"op": "remove", "path": f"{base}/{i}"},
            ]
        described = "; ".join(
            f"tolerations[{i}] {_show(tol)} matches the taints of {', '.join(pools)}" for i, tol, pools in bad
        )
        if found := ctx.emit(
            ID,
            SEVERITY,
            info.manifest,
            f"pod{info.where} requests no GPU but tolerates GPU taints: {described}",
            tpl=info.tpl,
            fix=fix,
            at=f"{base}/{bad[0][0]}",  # the first toleration in question
        ):
            yield found


def _show(tol: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in tol.items()) + "}"
