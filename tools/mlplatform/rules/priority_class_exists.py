"""A pod that names a PriorityClass the cluster does not define: the API server rejects it."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Finding, Severity
from ..suggest import did_you_mean
from ._base import RuleContext

ID = "policy/priority-class-exists"
TITLE = "PriorityClass not defined in the cluster"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "The Priority admission plugin rejects a pod whose priorityClassName names no PriorityClass, so the "
    "controller never creates its pods. Every class a pod template names must be rendered for the cluster "
    "(infrastructure/configs) or be built in (system-cluster-critical, system-node-critical)."
)
REMEDIATION = "Define the PriorityClass in infrastructure/configs for the cluster, or name an existing one."


def check(ctx: RuleContext) -> Iterator[Finding]:
    defined = {m.ref.name for m in ctx.by_kind("PriorityClass")}
    defined |= set(ctx.policy.workload_checks["builtin_priority_classes"])
    for info in ctx.templates:
        name = info.spec.get("priorityClassName")
        wtype = ctx.policy.types.get(info.workload_type or "")
        if wtype is not None and wtype.priority_class and name != wtype.priority_class:
            continue  # rule priority-class names the class this type requires, with a fix: one finding
        if isinstance(name, str) and name and name not in defined:
            message = (
                f"pod{info.where} names PriorityClass {name!r}, which this cluster does not define"
                f"{did_you_mean(name, defined)}"
            )
            if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl,
                                 at=info.tpl.pointer + "/priorityClassName"):
                yield found
