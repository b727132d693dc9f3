"""A GPU container on a time-sliced pool that does not cap its GPU memory at 1/replicas of the GPU."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..model import Finding, Severity
from ..scheduling import GPU_RESOURCE
from ._base import RuleContext, iter_containers, pointer
from .timeslice_multiple_gpus import time_sliced_targets

ID = "gpu-memory-uncapped"
TITLE = "GPU memory share not capped on a time-sliced pool"
SEVERITY = Severity.ERROR
FIXABLE = True
RATIONALE = (
    "Time-slicing isolates neither memory nor faults: one replica can take the whole GPU's memory and its "
    "neighbours fail with out-of-memory (k8s-device-plugin #323, #461). Each GPU container that can land "
    "on a time-sliced pool must cap itself at most 1/replicas of the GPU: vLLM --gpu-memory-utilization, "
    "TGI --cuda-memory-fraction (or CUDA_MEMORY_FRACTION), or the annotation "
    "mlplatform.example.com/gpu-memory-fraction for an application that enforces the fraction itself "
    "(policies/gpu-sharing.yaml). docs/facts.md#device-plugin-time-slicing. Fix: lower an explicit cap that is "
    "too high."
)


@dataclass
class Cap:
    value: float
    source: str
    # JSON pointer (relative to the container) and the replacement text, when a fix can rewrite it
    path: str | None = None
    original: Any = None
    template: str | None = None  # the original string with _SLOT where the number goes


# Marks where the number goes in a cap's template. The surrounding text is the user's own (shell arguments such
# as `${JOB_COMPLETION_INDEX}` carry braces), so the number is spliced in, never put through str.format.
_SLOT = "\x00"


def fill(template: str, number: str) -> str:
    before, _, after = template.partition(_SLOT)
    return before + number + after


def _float(text: str) -> float | None:
    try:
        number = float(text)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@lru_cache(maxsize=64)
def _flag_pattern(flag: str) -> re.Pattern[str]:
    return re.compile(re.escape(flag) + r"(=|\s+)([0-9.eE+-]+)")


def find_cap(
    container: dict, annotations: dict | None, flags: list[str], env_names: list[str], annotation: str
) -> Cap | None:
    """The GPU memory fraction a container declares, and where it says so."""
    for fieldname in ("command", "args"):
        items = container.get(fieldname)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if not isinstance(item, str):
                continue
            for flag in flags:
                if flag not in item:
                    continue
                if item == flag and i + 1 < len(items):
                    value = _float(str(items[i + 1]))
                    if value is not None:
                        return Cap(value, f"{flag} {items[i + 1]}", pointer(fieldname, i + 1), items[i + 1], _SLOT)
                match = _flag_pattern(flag).search(item)
                if match and (value := _float(match.group(2))) is not None:
                    template = item[: match.start(2)] + _SLOT + item[match.end(2) :]
                    return Cap(
                        value,
                        f"{flag}{match.group(1)}{match.group(2)}",
                        pointer(fieldname, i),
                        item,
                        template,
                    )
    env = container.get("env")
    if isinstance(env, list):
        for i, var in enumerate(env):
            if isinstance(var, dict) and var.get("name") in env_names and "value" in var:
                value = _float(str(var["value"]))
                if value is not None:
                    return Cap(
                        value,
                        f"env {var['name']}={var['value']}",
                        pointer("env", i, "value"),
                        var["value"],
                        _SLOT,
                    )
    if annotations is None:
        return None
    if annotation in annotations and (value := _float(str(annotations[annotation]))) is not None:
        return Cap(value, f"annotation {annotation}={annotations[annotation]}")
    return None


def check(ctx: RuleContext) -> Iterator[Finding]:
    cfg = ctx.policy.gpu_sharing.get("memory_cap") or {}
    flags = list(cfg.get("args") or ["--gpu-memory-utilization", "--cuda-memory-fraction"])
    env_names = list(cfg.get("env") or ["CUDA_MEMORY_FRACTION"])
    annotation = str(cfg.get("annotation") or "mlplatform.example.com/gpu-memory-fraction")
    for info in ctx.templates:
        if GPU_RESOURCE not in info.gpu_requests:
            continue
        targets = time_sliced_targets(ctx, info.placement.selectable)
        if not targets:
            continue
        replicas = max(ctx.time_sliced_replicas[t] for t in targets)
        limit = 1.0 / replicas
        for fieldname, index, container in iter_containers(info):
            resources = container.get("resources") or {}
            if GPU_RESOURCE not in (resources.get("limits") or {}) and GPU_RESOURCE not in (
                resources.get("requests") or {}
            ):
                continue
            cap = find_cap(container, None, flags, env_names, annotation) or find_cap(
                {}, info.tpl.annotations, flags, env_names, annotation
            )
            if cap is not None and 0 < cap.value <= limit + 1e-9:
                continue
            name = container.get("name", f"#{index}")
            where = f"{fieldname[:-1]} {name}{info.where}"
            pools = ", ".join(targets)
            if cap is None:
                message = (
                    f"{where} uses a time-sliced GPU on pool(s) {pools} ({replicas} replicas per GPU) "
                    f"without a GPU memory cap; set {' or '.join(flags)} (or the {annotation} "
                    f"annotation) to at most {limit:.2f}"
                )
                if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl):
                    yield found
            elif cap.value > limit + 1e-9 or cap.value <= 0:
                fix = None
                if cap.path and cap.template:
                    new = math.floor(limit * 100) / 100
                    path = info.tpl.pointer + pointer(fieldname, index) + cap.path
                    text = fill(cap.template, f"{new:.2f}")
                    fix = [
                        {"op": "test", "path": path, "value": cap.original},
                        {"op": "replace", "path": path, "value": text},
                    ]
                message = (
                    f"{where} caps GPU memory with {cap.source}, above 1/{replicas} = {limit:.2f} of a GPU "
                    f"shared {replicas} ways on pool(s) {pools}"
                )
                if found := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl, fix=fix):
                    yield found
