"""Containers without CPU/memory requests or a memory limit: neither scheduler nor planner can size them."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Severity
from ._base import RuleContext, iter_containers, pointer

ID = "policy/resources-missing"
TITLE = "Missing resource requests or limits"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "Without CPU and memory requests a pod is BestEffort: the scheduler packs it anywhere, the capacity "
    "plan cannot count it and it is the first to be evicted; without a memory limit one container can take "
    "a node's memory. Every container and init container sets the requests and limits listed in "
    "policies/workload-checks.yaml (a limit alone also sets the request)."
)
REMEDIATION = "Set the CPU and memory requests and the memory limit on every container and init container."


def check(ctx: RuleContext) -> Iterator[Finding]:
    cfg = ctx.policy.workload_checks
    need_requests = cfg["required_requests"]  # typed, with defaults: _params.WORKLOAD_CHECKS
    need_limits = cfg["required_limits"]
    for info in ctx.templates:
        missing: list[str] = []
        first: str | None = None  # the first container in question: the finding names its resources
        for fieldname, index, container in iter_containers(info):
            resources = container.get("resources")
            if not isinstance(resources, dict):
                resources = {}
            requests = resources.get("requests")
            limits = resources.get("limits")
            requests = requests if isinstance(requests, dict) else {}
            limits = limits if isinstance(limits, dict) else {}
            if all(r in requests or r in limits for r in need_requests) and all(r in limits for r in need_limits):
                continue
            gaps = [f"requests.{r}" for r in need_requests if r not in requests and r not in limits]
            gaps += [f"limits.{r}" for r in need_limits if r not in limits]
            if gaps:
                first = first or info.tpl.pointer + pointer(fieldname, index, "resources")
                missing.append(f"{fieldname[:-1]} {container.get('name', f'#{index}')}: {', '.join(gaps)}")
        if missing:
            if found := ctx.emit(
                ID,
                SEVERITY,
                info.manifest,
                f"pod{info.where} misses resources: {'; '.join(missing)}",
                tpl=info.tpl,
                at=first,
            ):
                yield found
