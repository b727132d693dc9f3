"""A container asking for more than one time-sliced GPU: it gets no more compute and is rejected."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import GPU_RESOURCE, Finding, Severity
from ..quantity import QuantityError
from ..scheduling import amount
from ._base import RuleContext, iter_containers, pointer

ID = "policy/timeslice-multiple-gpus"
TITLE = "More than one time-sliced GPU per container"
SEVERITY = Severity.ERROR
FIXABLE = False  # the count is often tied to the program (--tensor-parallel-size=2): a person decides
RATIONALE = (
    "On a time-sliced pool nvidia.com/gpu counts replicas, not GPUs: two replicas may be slices of the same "
    "GPU and give no more compute than one, and with failRequestsGreaterThanOne the device plugin rejects "
    "the pod at admission (UnexpectedAdmissionError). docs/facts.md#device-plugin-time-slicing. Remedy: "
    "request 1 (and lower the program's parallelism to match), or run the workload on a pool that is not "
    "time-sliced."
)
REMEDIATION = "Request one nvidia.com/gpu on a time-sliced pool, or run on a pool that is not time-sliced."


def time_sliced_targets(ctx: RuleContext, selectable: list[str]) -> list[str]:
    replicas = ctx.time_sliced_replicas
    return [name for name in selectable if name in replicas]


def check(ctx: RuleContext) -> Iterator[Finding]:
    for info in ctx.templates:
        if GPU_RESOURCE not in info.gpu_requests:
            continue
        targets = time_sliced_targets(ctx, info.placement.selectable)
        if not targets:
            continue
        for fieldname, index, container in iter_containers(info):
            resources = container.get("resources")
            if not isinstance(resources, dict):
                continue
            most = 0
            at = ""  # the first table that asks for more than one GPU: the finding names that line
            tables: list[str] = []  # where the count is written: both need changing
            for table in ("limits", "requests"):
                values = resources.get(table)
                if not isinstance(values, dict) or GPU_RESOURCE not in values:
                    continue
                try:
                    wanted = amount(GPU_RESOURCE, values[GPU_RESOURCE])
                except QuantityError:
                    continue
                if wanted > 1:
                    most = max(most, wanted)
                    tables.append(table)
                    at = at or info.tpl.pointer + pointer(fieldname, index, "resources", table, GPU_RESOURCE)
            if most:
                name = container.get("name", f"#{index}")
                message = (
                    f"{fieldname[:-1]} {name}{info.where} asks for {most} nvidia.com/gpu ({' and '.join(tables)}) "
                    f"on time-sliced pool(s) {', '.join(targets)}; a time-sliced replica is a share of one GPU, "
                    f"ask for 1"
                )
                note = (f"a GPU count is never changed automatically: {name} may need {most} GPUs (tensor "
                        "parallelism); request 1 and lower its parallelism, or move it to a pool without time-slicing")
                if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl, fix_note=note, at=at):
                    yield found
