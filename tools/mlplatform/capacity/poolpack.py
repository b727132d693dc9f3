"""Pack one pool at one demand level: by resources alone (packing.py) when no workload of the pool carries a
scheduling constraint, else under the constraints (cpack.py), with the pods no node can take."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model import Pool
from . import cpack
from .demand import PodDemand
from .packing import Group, PackResult, pack
from .problem import PlanConstraints


@dataclass
class Shortage:
    """Pods of a workload that no node of the pool can take, and the constraint that keeps them out."""

    workload: PodDemand
    count: int
    constraint: str
    reason: str


@dataclass
class Level:
    result: PackResult
    problem: cpack.Problem
    members: list[list[PodDemand]]
    solution: cpack.Solution
    shortages: list[Shortage] = field(default_factory=list)
    constrained: bool = False
    rules: dict[int, list[str]] = field(default_factory=dict)  # id(workload) -> the rules the model applied
    _extender: cpack.Extender | None = None
    _items: dict[int, int] | None = None

    @property
    def bounds(self) -> list[cpack.Bound]:
        return self.solution.bounds

    def item_of(self, w: PodDemand) -> int | None:
        # Asked for each Deployment of the pool (its rollout): one map instead of a scan of every item each time.
        if self._items is None:
            self._items = {}
            for i, ms in enumerate(self.members):
                for m in ms:
                    self._items.setdefault(id(m), i)  # the first item holding it, as the scan found
        return self._items.get(id(w))

    def extender(self) -> cpack.Extender:
        if self._extender is None:
            self._extender = cpack.Extender(self.problem, self.solution)
        return self._extender


@dataclass
class PoolContext:
    """What building a pool's problem needs to know about the rest of the cluster at a demand level."""

    pools_with_nodes: set[str]
    placed_pool: Mapping[int, str]  # id(workload) -> the pool it is planned on
    all_zones: Mapping[str, tuple[str, ...]]  # pool -> zones


class PoolPacker:
    def __init__(
        self,
        pool: Pool,
        workloads: list[PodDemand],
        resources: list[str],
        vector: Callable[[dict[str, int], list[str]], tuple[int, ...]],
        capacity: tuple[int, ...],
        zones: tuple[str, ...],
        model: PlanConstraints,
    ) -> None:
        self.pool = pool
        self.workloads = workloads
        self.resources = resources
        self.vector = vector
        self.capacity = capacity
        self.zones = zones
        self.model = model
        # One pod's request vector per workload, for every level and scenario this packer builds.
        self.demands = {id(w): vector(w.requests, resources) for w in workloads}

    def level(
        self,
        counts: Mapping[int, int],
        context: PoolContext,
        *,
        zones: tuple[str, ...] | None = None,
        exact: bool = True,
        time_limit_s: float = 2.0,
    ) -> Level:
        """The packing of the pool for `counts` (id(workload) -> pods), in `zones` (default: the pool's)."""
        zones = zones if zones is not None else self.zones
        built = self.model.build(
            self.pool, self.workloads, counts, self.demands, self.capacity, zones or ("",),
            context.pools_with_nodes, context.placed_pool, context.all_zones,
        )
        shortages = [Shortage(s.workload, s.count, s.constraint, s.reason) for s in built.shortfalls]
        problem = built.problem
        if not zones:  # a zone loss took the pool's only zone
            for i, it in enumerate(problem.items):
                if it.count:
                    shortages.append(Shortage(built.members[i][0], it.count, "zones", "the pool has no zone left"))
            empty = PackResult(0, 0, 0, "none", True)
            return Level(empty, problem, built.members, cpack.Solution(empty, [], [0] * len(problem.items), [], []),
                         shortages, True, built.rules)
        if not built.constrained:
            groups = [Group(it.key, it.demand, it.count) for it in problem.items]
            result = pack(groups, self.capacity, exact=exact, time_limit_s=time_limit_s)
            ring = problem.zones
            solution = cpack.Solution(
                result,
                [ring[b % len(ring)] for b in range(len(result.bins))],
                [it.count for it in problem.items],
                [],
                [cpack.Bound(result.lower_bound, "resources (cpu, memory, pods, GPU units)")],
            )
            return Level(result, problem, built.members, solution, shortages, False, built.rules)
        solution = cpack.solve(problem, exact=exact, time_limit_s=time_limit_s)
        for s in solution.shortfalls:
            shortages.append(Shortage(built.members[s.item][0], s.count, s.constraint, s.reason))
        return Level(solution.result, problem, built.members, solution, shortages, True, built.rules)


def counts_at(workloads: list[PodDemand], at_max: bool) -> dict[int, int]:
    return {id(w): (w.max_replicas if at_max else w.min_replicas) for w in workloads}


def describe_bound(level: Level) -> str:
    """The term that drives the lower bound, in words (empty when resources do)."""
    for b in level.bounds:
        if b.nodes == level.result.lower_bound and not b.reason.startswith("resources"):
            return b.reason
    return ""


def as_json_shortages(shortages: list[Shortage]) -> list[dict[str, Any]]:
    return [
        {"workload": s.workload.name, "pods": s.count, "constraint": s.constraint, "reason": s.reason}
        for s in shortages
    ]
