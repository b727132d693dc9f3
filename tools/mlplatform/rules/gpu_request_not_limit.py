"""GPU resources whose request differs from the limit (or a request without a limit)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model import Finding, Severity
from ..quantity import QuantityError
from ..scheduling import amount
from ..yamlio import mapping
from ._base import RuleContext, is_gpu_resource, iter_containers, pointer

ID = "policy/gpu-request-not-limit"
TITLE = "GPU requests differ from limits"
SEVERITY = Severity.ERROR
FIXABLE = True
RATIONALE = (
    "Extended resources such as nvidia.com/gpu and nvidia.com/mig-* cannot be overcommitted: the API server "
    "rejects a container whose request differs from its limit, or that sets a request without a limit. "
    "Setting the limit alone is enough (the request defaults to it). Fix: add a missing limit equal to the "
    "request. A request that differs from its limit is left to a person: which count is right is a choice "
    "(a GPU count is never changed automatically)."
)


def _num(resource: str, value: object) -> int | None:
    try:
        return amount(resource, value)
    except QuantityError:
        return None


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in ctx.templates:
        if not info.gpu_requests:
            continue  # every GPU request or limit shows up in the pod's effective requests
        for fieldname, index, container in iter_containers(info):
            resources = container.get("resources")
            if not isinstance(resources, dict):
                continue
            requests = resources.get("requests")
            if not isinstance(requests, dict):
                continue  # limits only: the requests default to them
            gpu_requested = sorted(r for r in requests if is_gpu_resource(str(r)))
            if not gpu_requested:
                continue
            limits = mapping(resources.get("limits"))
            base = info.tpl.pointer + pointer(fieldname, index, "resources")
            problems: list[str] = []
            offending: list[str] = []  # the GPU resources the problems are about, in order
            fix: list[dict[str, Any]] = []
            mismatched = False
            missing_limits: dict[str, Any] = {}
            for resource in gpu_requested:
                if resource not in limits:
                    problems.append(f"{resource} has a request ({requests[resource]}) and no limit")
                    offending.append(resource)
                    missing_limits[resource] = requests[resource]
                elif _num(resource, requests[resource]) != _num(resource, limits[resource]):
                    problems.append(f"{resource} request {requests[resource]} != limit {limits[resource]}")
                    offending.append(resource)
                    mismatched = True
            if missing_limits and isinstance(resources.get("limits"), dict):
                fix += [
                    {"op": "add", "path": f"{base}/limits{pointer(r)}", "value": v} for r, v in missing_limits.items()
                ]
            elif missing_limits:
                fix.append({"op": "add", "path": f"{base}/limits", "value": missing_limits})
            if problems:
                name = container.get("name", f"#{index}")
                message = f"{fieldname[:-1]} {name}{info.where}: {'; '.join(problems)}"
                note = None
                if mismatched:  # a partial fix would leave the finding: all or nothing
                    fix = []
                    note = "a GPU count is never changed automatically: set the request equal to the limit you mean"
                # the line of the first GPU request in question, where the person edits
                if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl, fix=fix or None,
                                     fix_note=note, at=f"{base}/requests{pointer(offending[0])}"):
                    yield found
