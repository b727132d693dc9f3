"""Headroom of a pool at maximum demand: a rollout's surge pods, the loss of a node, the loss of a zone.

- rollout: each Deployment with the RollingUpdate strategy creates up to maxSurge pods beyond its replicas
  (a percentage of the replicas, rounded up; maxUnavailable rounded down; both 0 -> maxUnavailable 1, as the
  deployment controller resolves them). Its surge pods join the maximum-demand packing (free room first,
  then new nodes). When they do not fit within max_size and maxUnavailable is 0, the controller can neither
  start a new pod nor stop an old one: the rollout stalls. With maxUnavailable > 0 it goes on, slower.
- node_loss: one node of the pool is gone and cannot come back (no capacity for the instance type, or, on a
  spot pool, an interruption): the maximum demand must fit max_size - 1 nodes.
- zone_loss: one zone is gone. The node group spreads its nodes evenly over its zones, so the lost zone
  held ceil(max_size / zones) of the max_size nodes; the rest must hold the maximum demand in the remaining
  zones, with every zone constraint evaluated again (a zone spread's minDomains may no longer be met).

For critical workloads (a PriorityClass or pod label `mlplatform.example.com/critical: "true"`, or a
system-*-critical class) the question is whether they survive: they preempt every pod of lower priority,
so they survive when the pods of their priority and above fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..model import Pool
from ..yamlio import mapping
from .demand import PodDemand
from .poolpack import Level, PoolContext, PoolPacker, Shortage, as_json_shortages

DEFAULT_SURGE = "25%"
DEFAULT_UNAVAILABLE = "25%"
# Scenario solves are secondary to the plan itself: a short exact solve only where the answer is in doubt.
SCENARIO_TIME_LIMIT_S = 0.5


def _resolve(value: Any, replicas: int, round_up: bool) -> int:
    """intstr: an int, or "N%" of replicas (rounded up for maxSurge, down for maxUnavailable)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, str) and value.endswith("%") and value[:-1].strip().isdigit():
        share = replicas * int(value[:-1]) / 100
        return max(0, math.ceil(share - 1e-9) if round_up else math.floor(share + 1e-9))
    return 0


def rollout_fenceposts(w: PodDemand, replicas: int) -> tuple[int, int] | None:
    """(maxSurge, maxUnavailable) in pods for a RollingUpdate Deployment, else None."""
    # The raw kind, not Manifest.ref (whose first use builds a reference, for every workload of the pool): only
    # the string "Deployment" is the reference's kind "Deployment" (constraints.PriorityClasses.of says why).
    if w.manifest.obj.get("kind") != "Deployment" or w.template.role:
        return None
    spec = w.manifest.obj.get("spec")
    strategy = spec.get("strategy") if isinstance(spec, dict) else None
    strategy = strategy if isinstance(strategy, dict) else {}
    if strategy.get("type") == "Recreate":
        return None
    rolling = mapping(strategy.get("rollingUpdate"))
    surge = _resolve(rolling.get("maxSurge", DEFAULT_SURGE), replicas, True)
    unavailable = _resolve(rolling.get("maxUnavailable", DEFAULT_UNAVAILABLE), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


@dataclass
class RolloutCheck:
    workload: PodDemand
    surge: int
    unavailable: int
    nodes_needed: int
    fits: bool
    stalls: bool
    unplaced: int = 0
    why: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload.name,
            "file": self.workload.manifest.source.file,
            "max_surge": self.surge,
            "max_unavailable": self.unavailable,
            "nodes_needed": self.nodes_needed,
            "fits": self.fits,
            "stalls": self.stalls,
            "surge_pods_without_room": self.unplaced,
        }


@dataclass
class Scenario:
    """A failure scenario of one pool at maximum demand."""

    name: str
    cause: str
    nodes_available: int
    level: Level | None  # the packing after the loss (None: same as at maximum demand)
    base: Level
    critical: list[PodDemand] = field(default_factory=list)
    critical_level: Level | None = None
    lost_zone: str | None = None
    zones_left: tuple[str, ...] = ()

    @property
    def packing(self) -> Level:
        return self.level or self.base

    @property
    def fits(self) -> bool:
        return self.packing.result.nodes <= self.nodes_available and not _new_shortages(self.packing, self.base)

    @property
    def critical_fits(self) -> bool:
        if not self.critical:
            return True
        lv = self.critical_level or self.packing
        ids = {id(w) for w in self.critical}
        lost = [s for s in _new_shortages(lv, self.base) if id(s.workload) in ids]
        return lv.result.nodes <= self.nodes_available and not lost

    def to_json(self) -> dict[str, Any]:
        lv = self.packing
        out: dict[str, Any] = {
            "cause": self.cause,
            "nodes_available": self.nodes_available,
            "nodes_needed": lv.result.nodes,
            "lower_bound": lv.result.lower_bound,
            "fits": self.fits,
            "spare_nodes": self.nodes_available - lv.result.nodes,
            "unplaced": as_json_shortages(_new_shortages(lv, self.base)),
        }
        if self.lost_zone is not None:
            out["lost_zone"] = self.lost_zone
            out["zones_left"] = list(self.zones_left)
        if self.critical:
            clv = self.critical_level or lv
            out["critical"] = {
                "workloads": [w.name for w in self.critical],
                "nodes_needed": clv.result.nodes,
                "survive": self.critical_fits,
            }
        return out


def _new_shortages(level: Level, base: Level) -> list[Shortage]:
    """Shortages of `level` beyond those already at maximum demand (per workload and constraint)."""
    before: dict[tuple[int, str], int] = {}
    for s in base.shortages:
        before[id(s.workload), s.constraint] = before.get((id(s.workload), s.constraint), 0) + s.count
    out = []
    for s in level.shortages:
        key = (id(s.workload), s.constraint)
        extra = s.count - before.get(key, 0)
        if extra > 0:
            out.append(type(s)(s.workload, extra, s.constraint, s.reason))
            before[key] = 0
        else:
            before[key] = -extra
    return out


@dataclass
class PoolHeadroom:
    rollouts: list[RolloutCheck]
    node_loss: Scenario
    zone_loss: Scenario

    @property
    def worst_rollout(self) -> RolloutCheck | None:
        return max(self.rollouts, key=lambda r: (r.nodes_needed, r.unplaced), default=None)

    def to_json(self, pool: Pool, base: Level) -> dict[str, Any]:
        worst = self.worst_rollout
        rollout: dict[str, Any] = {
            "nodes_available": pool.max_size,
            "nodes_needed": worst.nodes_needed if worst else base.result.nodes,
            "fits": all(r.fits for r in self.rollouts),
            "spare_nodes": pool.max_size - (worst.nodes_needed if worst else base.result.nodes),
            "worst": worst.workload.name if worst else None,
            "stalls": [r.workload.name for r in self.rollouts if r.stalls],
            "deployments": [r.to_json() for r in self.rollouts],
        }
        return {
            "rollout": rollout,
            "node_loss": self.node_loss.to_json(),
            "zone_loss": self.zone_loss.to_json(),
        }


def pool_headroom(
    pool: Pool,
    packer: PoolPacker,
    base: Level,
    counts: dict[int, int],
    context: PoolContext,
    critical: list[PodDemand],
    priority_of: dict[int, int],
) -> PoolHeadroom:
    """Rollout, node-loss and zone-loss headroom of a pool from its maximum-demand packing `base`."""
    rollouts = []
    for w in packer.workloads:
        replicas = counts.get(id(w), 0)
        fence = rollout_fenceposts(w, replicas) if replicas else None
        if not fence or not fence[0]:
            continue
        surge, unavailable = fence
        item = base.item_of(w)
        if item is None:
            continue
        new_nodes, missing, why = base.extender().add(item, surge)
        nodes = base.result.nodes + new_nodes
        fits = nodes <= pool.max_size and not missing
        stalls = False
        if not fits:
            one_new, one_missing, _ = base.extender().add(item, 1)
            stalls = unavailable == 0 and (one_missing > 0 or base.result.nodes + one_new > pool.max_size)
        rollouts.append(RolloutCheck(w, surge, unavailable, nodes, fits, stalls, missing, why))

    spot = pool.spot
    node_loss = Scenario(
        "node_loss", "spot interruption of one node" if spot else "loss of one node",
        max(0, pool.max_size - 1), None, base,
    )
    zones = packer.zones
    lost = zones[0] if zones else ""
    left = tuple(z for z in zones if z != lost)
    lost_nodes = math.ceil(pool.max_size / len(zones)) if zones else pool.max_size
    zone_ctx = PoolContext(
        context.pools_with_nodes,
        context.placed_pool,
        {p: tuple(z for z in zs if z != lost) for p, zs in context.all_zones.items()},
    )
    zone_level = None
    if base.problem.zoned() or not left or _zone_sensitive(base):
        zone_level = packer.level(counts, zone_ctx, zones=left, exact=True, time_limit_s=SCENARIO_TIME_LIMIT_S)
    zone_loss = Scenario(
        "zone_loss", f"loss of zone {lost}", max(0, pool.max_size - lost_nodes), zone_level, base,
        lost_zone=lost, zones_left=left,
    )
    if critical:
        floor = min(priority_of[id(w)] for w in critical)
        kept = {k: v for k, v in counts.items() if priority_of.get(k, 0) >= floor}
        for scenario, zs, ctx in ((node_loss, zones, context), (zone_loss, left, zone_ctx)):
            scenario.critical = critical
            if kept == counts:
                continue
            scenario.critical_level = packer.level(kept, ctx, zones=zs, exact=True,
                                                   time_limit_s=SCENARIO_TIME_LIMIT_S)
    return PoolHeadroom(rollouts, node_loss, zone_loss)


def _zone_sensitive(level: Level) -> bool:
    """Whether a rule of the packing depends on the zones (a zone spread cut by minDomains, ...)."""
    return any("zone" in s.reason for s in level.shortages)

