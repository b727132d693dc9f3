"""A workload type that requires a PriorityClass (policies/workload-pools.yaml) whose pods do not name it."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Severity
from ._base import RuleContext

ID = "policy/priority-class"
TITLE = "Required PriorityClass missing"
SEVERITY = Severity.ERROR
FIXABLE = True
RATIONALE = (
    "Production inference and critical agents must win when GPU nodes are short: their PriorityClass lets "
    "the scheduler preempt batch and research pods instead of leaving a production replica Pending. The "
    "class each type needs is set in policies/workload-pools.yaml. Fix: set spec.priorityClassName."
)


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in ctx.templates:
        wtype = ctx.policy.types.get(info.workload_type or "")
        if wtype is None or not wtype.priority_class:
            continue
        have = info.spec.get("priorityClassName")
        if have == wtype.priority_class:
            continue
        path = info.tpl.pointer + "/priorityClassName"
        op = "replace" if "priorityClassName" in info.spec else "add"
        fix = ([{"op": "test", "path": path, "value": have}] if op == "replace" else []) + [
            {"op": op, "path": path, "value": wtype.priority_class}
        ]
        message = (
            f"pod{info.where} of type {wtype.name} has priorityClassName {have!r}; required: {wtype.priority_class!r}"
            if have
            else f"pod{info.where} of type {wtype.name} sets no priorityClassName; required: {wtype.priority_class!r}"
        )
        if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl, fix=fix, at=path):
            yield found
