"""What each node of a pool holds in the capacity plan, down to each GPU's MIG slices or time-slicing replicas.

The planner (capacity/packing.py) decides how many pods of each shape go on each node. This module refines
that one step further, the way the NVIDIA device plugin hands out devices on a node: with its default
`distributed` allocation policy (k8s-device-plugin internal/rm/allocate.go, the default of
--shared-devices-allocation-policy, for time-sliced replicas and MIG devices) each unit comes from the GPU
with the fewest units already allocated, lowest index first. MIG instances sit where the pool's layout
places them on every GPU (mig.placement: the same geometry `mlplatform mig validate` checks).
It is one assignment consistent with the plan, not a prediction of which device a pod gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..allocatable import node_allocatable
from ..capacity.packing import PackResult
from ..capacity.plan import PoolPlan
from ..catalog import Catalog
from ..mig import placement
from ..model import GPU_RESOURCE, MIG_RESOURCE_PREFIX, SharingMode

MIB = 2**20


@dataclass
class Cell:
    """One MIG instance, one time-slicing replica or one whole GPU, and the workload holding it."""

    node: int  # 1-based
    gpu: int  # 0-based, as nvidia-smi numbers them
    start: int  # first memory slice (MIG), replica index (time-slicing) or 0
    size: int  # memory slices (MIG), else 1
    profile: str  # "3g.40gb", "replica 2 of 4" or the GPU model
    workload: str | None = None  # "inference/vllm"; None: free
    mig: bool = False

    def _place(self) -> str:
        return f" at memory slice {self.start}" if self.mig else ""

    def to_json(self, pool: str) -> dict[str, Any]:
        where = f"{pool} node {self.node} GPU {self.gpu}"
        return {
            "node": f"node {self.node}",
            "gpu": self.gpu,
            "row": f"node {self.node} · GPU {self.gpu}",
            "start": self.start,
            "end": self.start + self.size,
            "profile": self.profile,
            "workload": self.workload or "free",
            "held": self.workload is not None,
            "short": short_name(self.workload) if self.workload else "",
            # unique per cell: two free 1g.10gb instances of one GPU differ by their first memory slice
            "description": f"{where} {self.profile}{self._place()}: {self.workload or 'free'}",
        }


@dataclass
class NodeView:
    index: int  # 1-based
    state: str  # "needed", "idle" (kept by min_size), "over max_size"
    pods: dict[str, int] = field(default_factory=dict)  # workload -> pods on this node
    used: dict[str, int] = field(default_factory=dict)  # resource -> requested, DaemonSets included
    allocatable: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        usage = []
        for resource in ("cpu", "memory", "pods"):
            total = self.allocatable.get(resource, 0)
            used = self.used.get(resource, 0)
            usage.append(
                {
                    "node": f"node {self.index}",
                    "resource": resource,
                    "used": _shown(resource, used),
                    "allocatable": _shown(resource, total),
                    "percent": round(100 * used / total, 1) if total else 0.0,
                }
            )
        return {"node": f"node {self.index}", "state": self.state, "pods": self.pods, "usage": usage}


@dataclass
class PoolPacking:
    pool: str
    level: str  # "min" or "max" demand
    sharing: str  # "mig", "time-slicing", "none" (whole GPUs) or "cpu"
    gpu_model: str | None
    gpus_per_node: int
    slots_per_gpu: int  # memory slices (MIG: 8), replicas, or 1
    nodes: list[NodeView]
    cells: list[Cell]

    def to_json(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "level": self.level,
            "sharing": self.sharing,
            "gpu_model": self.gpu_model,
            "gpus_per_node": self.gpus_per_node,
            "slots_per_gpu": self.slots_per_gpu,
            "unit": {"mig": "memory slice", "time-slicing": "replica"}.get(self.sharing, "GPU"),
            "nodes": [n.to_json() for n in self.nodes],
            "cells": [c.to_json(self.pool) for c in self.cells],
            "held": sum(1 for c in self.cells if c.workload),
        }


def short_name(workload: str) -> str:
    """'inference/vllm' -> 'vllm'; 'training/recsys [Chief]' -> 'recsys [Chief]' (display names, as cells hold)."""
    return workload.split("/", 1)[1] if "/" in workload.split(" ", 1)[0] else workload


def display_name(workload: str) -> str:
    """'Deployment inference/vllm' -> 'inference/vllm' (the kind is in the plan's tables)."""
    _, _, rest = workload.partition(" ")
    return rest or workload


def _shown(resource: str, value: int) -> float:
    if resource == "cpu":
        return round(value / 1000, 2)  # cores
    if resource == "memory":
        return round(value / 2**30, 1)  # GiB
    return value


def _members(plan: PoolPlan, at_max: bool) -> list[list[tuple[str, int, dict[str, int]]]]:
    """Per packed item (what the result's bins index): (workload, pods of that item, requests) of the
    workloads it stands for, as the planner built them (capacity.poolpack.Level.problem and .members)."""
    level = plan.max_level if at_max else plan.min_level
    if level is None:
        return []
    out = []
    for item, workloads in zip(level.problem.items, level.members, strict=True):
        if len(workloads) == 1:  # one workload's pods (possibly a share of them, e.g. one zone's)
            out.append([(workloads[0].name, item.count, workloads[0].requests)])
        else:  # workloads with equal requests packed as one item
            out.append([(w.name, w.max_replicas if at_max else w.min_replicas, w.requests) for w in workloads])
    return out


def pool_packing(plan: PoolPlan, catalog: Catalog, level: str) -> PoolPacking:
    at_max = level == "max"
    result: PackResult = plan.at_max if at_max else plan.at_min
    pool = plan.pool
    it = catalog.instance_types[pool.planning_instance_type]
    sharing = str(pool.sharing or SharingMode.NONE) if it.gpu_count else "cpu"
    model = catalog.gpu_models.get(it.gpu_model or "") if it.gpu_model else None
    allocatable = node_allocatable(pool, catalog)

    members = _members(plan, at_max)
    left = [[count for _, count, _ in m] for m in members]
    billed = plan.billed_nodes(result.nodes)
    shown = max(billed, result.nodes)
    layout = _mig_layout(plan, model, catalog) if pool.mig else []
    replicas = pool.replicas_per_gpu
    slots = catalog.memory_slices_per_gpu if pool.mig else replicas

    nodes: list[NodeView] = []
    cells: list[Cell] = []
    for index in range(1, shown + 1):
        state = "needed" if index <= result.nodes else "idle"
        if index > pool.max_size:
            state = "over max_size"
        node = NodeView(index, state, allocatable=dict(allocatable))
        for resource, amount in plan.daemonset_overhead.items():
            node.used[resource] = node.used.get(resource, 0) + amount
        gpu_cells = _empty_gpus(index, it.gpu_count, sharing, layout, replicas, model.name if model else "GPU")
        content = result.bins[index - 1] if index <= len(result.bins) else {}
        for gi in sorted(content):
            count = content[gi]
            for mi, (name, _, requests) in enumerate(members[gi] if gi < len(members) else []):
                take = min(count, left[gi][mi])
                if take <= 0:
                    continue
                left[gi][mi] -= take
                count -= take
                node.pods[display_name(name)] = node.pods.get(display_name(name), 0) + take
                for resource, amount in requests.items():
                    node.used[resource] = node.used.get(resource, 0) + amount * take
                node.used["pods"] = node.used.get("pods", 0) + take
                for _ in range(take):
                    _hand_out(gpu_cells, requests, display_name(name))
                if count == 0:
                    break
        nodes.append(node)
        cells.extend(c for gpu in gpu_cells for c in gpu)
    return PoolPacking(pool.name, level, sharing, model.name if model else None, it.gpu_count, slots, nodes, cells)


def _mig_layout(plan: PoolPlan, model: Any, catalog: Catalog) -> list[tuple[str, int, int]]:
    """(profile, first memory slice, memory slices) of each MIG instance on one GPU of the pool."""
    layout = (plan.pool.gpu.mig_layout if plan.pool.gpu else None) or {}
    if model is None or not layout:
        return []
    placed = placement(model, layout, catalog) or []
    return [(name, start, model.mig_profiles[name].memory_slices) for name, start in placed]


def _empty_gpus(
    node: int, gpus: int, sharing: str, layout: list[tuple[str, int, int]], replicas: int, model: str
) -> list[list[Cell]]:
    out = []
    for gpu in range(gpus):
        if sharing == SharingMode.MIG:
            out.append([Cell(node, gpu, start, size, profile, mig=True) for profile, start, size in layout])
        elif sharing == SharingMode.TIME_SLICING:
            out.append([Cell(node, gpu, r, 1, f"replica {r + 1} of {replicas}") for r in range(replicas)])
        else:
            out.append([Cell(node, gpu, 0, 1, model)])
    return out


def _hand_out(gpus: list[list[Cell]], requests: dict[str, int], workload: str) -> None:
    """Give one pod its GPU units: each unit from the GPU with the fewest units held, then the lowest index."""
    for resource, amount in requests.items():
        if resource == GPU_RESOURCE:
            wanted = None  # a replica or a whole GPU: any free cell
        elif resource.startswith(MIG_RESOURCE_PREFIX):
            wanted = resource.removeprefix(MIG_RESOURCE_PREFIX)
        else:
            continue
        for _ in range(amount):
            candidates = [
                (sum(1 for c in cells if c.workload), g)
                for g, cells in enumerate(gpus)
                if any(c.workload is None and (wanted is None or c.profile == wanted) for c in cells)
            ]
            if not candidates:
                return  # the planner never packs more than a node offers; nothing left to draw
            _, g = min(candidates)
            cell = next(c for c in gpus[g] if c.workload is None and (wanted is None or c.profile == wanted))
            cell.workload = workload


def cluster_packing(plans: list[PoolPlan], catalog: Catalog) -> list[dict[str, Any]]:
    """Every GPU pool at maximum and at minimum demand, as JSON for the report."""
    out = []
    for plan in plans:
        if not catalog.instance_types[plan.pool.planning_instance_type].gpu_count:
            continue
        out.append(
            {
                "pool": plan.pool.name,
                "max": pool_packing(plan, catalog, "max").to_json(),
                "min": pool_packing(plan, catalog, "min").to_json(),
            }
        )
    return out
