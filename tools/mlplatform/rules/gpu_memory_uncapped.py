"""A GPU container on a time-sliced pool that does not cap its GPU memory at 1/replicas of the GPU."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..model import GPU_RESOURCE, Finding, Severity
from ._base import RuleContext, TemplateInfo, iter_containers, pointer
from ._memory_caps import Mechanism, MemoryCapPolicy
from .timeslice_multiple_gpus import time_sliced_targets

ID = "policy/gpu-memory-uncapped"
TITLE = "GPU memory share not capped on a time-sliced pool"
SEVERITY = Severity.ERROR
FIXABLE = True
RATIONALE = (
    "Time-slicing isolates neither memory nor faults: one replica can take the whole GPU's memory and its "
    "neighbours fail with out-of-memory (k8s-device-plugin #323, #461). Each GPU container that can land "
    "on a time-sliced pool must cap itself at most 1/replicas of the GPU, with a setting that the program it "
    "runs enforces: policies/gpu-sharing.yaml memory_cap lists each recognised mechanism with the program "
    "that reads it and the upstream source (vLLM --gpu-memory-utilization, TGI --cuda-memory-fraction or "
    "CUDA_MEMORY_FRACTION, and for our trainers MLPLATFORM_GPU_MEMORY_FRACTION / MLPLATFORM_GPU_MEMORY_LIMIT_MB "
    "read by the launchers in apps/base/training/shared/gpu-memory-cap). A flag in a container that does not "
    "run its program, an annotation, or a variable no framework reads is not a cap. Offline we prove the "
    "setting is there and small enough; that the image really runs the program, and that the process stays "
    "under it (CUDA context and NCCL buffers sit outside the allocators' limits), only a real GPU shows. "
    "docs/facts.md#device-plugin-time-slicing. "
    "Fix: lower an explicit cap that is too high (in the mechanism's own unit)."
)


@dataclass
class Cap:
    value: float
    source: str
    mechanism: Mechanism
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
    # the flag as a word of its own: not the tail of a longer flag such as --x--gpu-memory-utilization
    return re.compile(r"(?<![\w-])" + re.escape(flag) + r"(=|\s+)([0-9.eE+-]+)")


def program_text(container: dict[str, Any]) -> str:
    """What the container runs, as text to look for a program in: its image, command and args."""
    image = container.get("image")
    parts = [image if isinstance(image, str) else ""]
    for fieldname in ("command", "args"):
        items = container.get(fieldname)
        if isinstance(items, list):
            parts += [item for item in items if isinstance(item, str)]
    return " ".join(parts)


def find_cap(container: dict[str, Any], mechanism: Mechanism) -> Cap | None:
    """The cap a container sets through one mechanism (its flags, then its variables), and where."""
    for fieldname in ("command", "args"):
        items = container.get(fieldname)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if not isinstance(item, str):
                continue
            for flag in mechanism.args:
                if flag not in item:
                    continue
                if item == flag and i + 1 < len(items):
                    value = _float(str(items[i + 1]))
                    if value is not None:
                        where = pointer(fieldname, i + 1)
                        return Cap(value, f"{flag} {items[i + 1]}", mechanism, where, items[i + 1], _SLOT)
                match = _flag_pattern(flag).search(item)
                if match and (value := _float(match.group(2))) is not None:
                    template = item[: match.start(2)] + _SLOT + item[match.end(2) :]
                    source = f"{flag}{match.group(1)}{match.group(2)}"
                    return Cap(value, source, mechanism, pointer(fieldname, i), item, template)
    env = container.get("env")
    if isinstance(env, list):
        for i, var in enumerate(env):
            if isinstance(var, dict) and var.get("name") in mechanism.env and "value" in var:
                value = _float(str(var["value"]))
                if value is not None:
                    source = f"env {var['name']}={var['value']}"
                    return Cap(value, source, mechanism, pointer("env", i, "value"), var["value"], _SLOT)
    return None


def _settings(container: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Every flag-like word of the command line and every variable name the container sets."""
    words: set[str] = set()
    for fieldname in ("command", "args"):
        items = container.get(fieldname)
        if isinstance(items, list):
            for item in items:
                if isinstance(item, str):
                    words |= {w.split("=", 1)[0] for w in item.split() if w.startswith("-")}
    env = container.get("env")
    names = {str(v.get("name")) for v in env if isinstance(v, dict)} if isinstance(env, list) else set()
    return words, names


def _why_not(
    container: dict[str, Any], annotations: dict[str, Any], caps: MemoryCapPolicy, running: list[Mechanism]
) -> list[str]:
    """Why the settings that look like caps are not: decoys, and settings of programs the container does not run."""
    words, names = _settings(container)
    reasons = [f"{name} is not a cap ({why})" for name, why in caps.not_caps.items() if name in names | words]
    reasons += [
        f"the annotation {name} is not a cap ({why})" for name, why in caps.not_caps.items() if name in annotations
    ]
    for mechanism in caps.mechanisms:
        if mechanism in running:
            continue
        seen = sorted((set(mechanism.args) & words) | (set(mechanism.env) & names))
        if seen:
            reasons.append(
                f"{', '.join(seen)} is read by {mechanism.name}, which this container does not run "
                f"(its image, command and args name none of: {', '.join(mechanism.runs)})"
            )
    return reasons


def _how(mechanism: Mechanism) -> str:
    unit = "MB" if mechanism.unit == "MB" else "a fraction"
    return f"{' or '.join(mechanism.args + mechanism.env)} ({mechanism.name}, {unit})"


@dataclass
class Limits:
    replicas: int
    fraction: float
    mb: int | None  # the smallest GPU share in MB over the target pools; None when a GPU's memory is unknown


def _limits(ctx: RuleContext, targets: list[str]) -> Limits:
    """The share for a set of target pools (computed once per set: many templates share one)."""
    key = "gpu-memory-uncapped/limits:" + ",".join(targets)
    found = ctx.cache.get(key)
    if found is None:
        found = ctx.cache[key] = _compute_limits(ctx, targets)
    return found


def _compute_limits(ctx: RuleContext, targets: list[str]) -> Limits:
    replicas = max(ctx.time_sliced_replicas[t] for t in targets)
    shares = []
    for target in targets:
        model = ctx.cluster.catalog.gpu_model_of_instance(ctx.pools[target].planning_instance_type)
        shares.append(None if model is None else model.memory_mib // ctx.time_sliced_replicas[target])
    # TensorFlow's memory_limit is in MB and counts 2^20 bytes; the catalog gives MiB. Compared as equal units.
    mb = None if None in shares else min(s for s in shares if s is not None)
    return Limits(replicas, 1.0 / replicas, mb)


def _within(cap: Cap, limits: Limits) -> bool | None:
    """Whether the cap is at most the share; None when it cannot be told (an MB cap on an unknown GPU)."""
    if cap.value <= 0:
        return False
    if cap.mechanism.unit == "MB":
        return None if limits.mb is None else cap.value <= limits.mb
    return cap.value <= limits.fraction + 1e-9


def _fix(info: TemplateInfo, fieldname: str, index: int, cap: Cap, limits: Limits) -> list[dict[str, Any]] | None:
    if not (cap.path and cap.template):
        return None
    if cap.mechanism.unit == "MB":
        if limits.mb is None:
            return None
        number = str(limits.mb)
    else:
        number = f"{math.floor(limits.fraction * 100) / 100:.2f}"
    path = info.tpl.pointer + pointer(fieldname, index) + cap.path
    return [
        {"op": "test", "path": path, "value": cap.original},
        {"op": "replace", "path": path, "value": fill(cap.template, number)},
    ]


def check(ctx: RuleContext) -> Iterator[Finding]:
    caps = ctx.policy.memory_caps
    for info in ctx.templates:
        if GPU_RESOURCE not in info.gpu_requests:
            continue
        targets = time_sliced_targets(ctx, info.placement.selectable)
        if not targets:
            continue
        limits = _limits(ctx, targets)
        pools = ", ".join(targets)
        for fieldname, index, container in iter_containers(info):
            resources = container.get("resources") or {}
            if GPU_RESOURCE not in (resources.get("limits") or {}) and GPU_RESOURCE not in (
                resources.get("requests") or {}
            ):
                continue
            text = program_text(container)
            running = caps.running(text)
            cap = next((found for m in running if (found := find_cap(container, m)) is not None), None)
            within = None if cap is None else _within(cap, limits)
            if within:
                continue
            name = container.get("name", f"#{index}")
            where = f"{fieldname[:-1]} {name}{info.where}"
            share = f"{limits.fraction:.2f} of the GPU" + (f" ({limits.mb} MB)" if limits.mb is not None else "")
            fix = None
            if cap is None:
                reasons = _why_not(container, info.tpl.annotations, caps, running)
                if running:
                    advice = f"set {'; or '.join(_how(m) for m in running)} to at most {share}"
                else:
                    known = "; ".join(_how(m) for m in caps.mechanisms)
                    advice = (
                        f"run a program that enforces a cap and set it to at most {share} "
                        f"(policies/gpu-sharing.yaml memory_cap: {known})"
                    )
                message = (
                    f"{where} uses a time-sliced GPU on pool(s) {pools} ({limits.replicas} replicas per GPU) "
                    f"without a GPU memory cap that anything enforces; "
                    + "".join(f"{r}; " for r in reasons)
                    + advice
                )
            elif within is None:
                message = (
                    f"{where} caps GPU memory with {cap.source} in MB, but the GPU memory of pool(s) {pools} is not "
                    f"in the catalogue, so the share of 1/{limits.replicas} cannot be checked"
                )
            else:
                fix = _fix(info, fieldname, index, cap, limits)
                allowed = f"{limits.mb} MB" if cap.mechanism.unit == "MB" else f"{limits.fraction:.2f}"
                message = (
                    f"{where} caps GPU memory with {cap.source} ({cap.mechanism.name}), above 1/{limits.replicas} "
                    f"= {allowed} of a GPU shared {limits.replicas} ways on pool(s) {pools}"
                )
            # the cap's own field when there is one (its argument, its env value), else the container
            at = info.tpl.pointer + pointer(fieldname, index) + (cap.path or "" if cap is not None else "")
            if finding := ctx.emit(ID, SEVERITY, info.manifest, message, tpl=info.tpl, fix=fix, at=at):
                yield finding
