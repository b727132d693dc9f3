"""Multi-dimensional bin packing of pod groups onto identical nodes: first-fit-decreasing, bounds, CP-SAT.

A group is a number of identical pods (same requests vector). Nodes of one pool are identical bins with
the capacity left after DaemonSets. We report the nodes a packing needs, a lower bound on any packing and
the gap between them. The exact solve works on counts per (group, node), so 2,000 replicas of one
Deployment are one integer variable per node, not 2,000 booleans.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# An exact model with more (group x node) variables than this is not built: the heuristic answer and
# the bounds are reported instead, with the reason. Past this size CP-SAT rarely beats the heuristics
# within seconds, and GPU pools (where a node costs $20-$60/h) are far smaller.
MAX_EXACT_VARIABLES = 8_000


@dataclass(frozen=True)
class Group:
    """`count` identical pods, each requesting `demand` (aligned with the packer's resource list)."""

    key: str
    demand: tuple[int, ...]
    count: int


@dataclass
class PackResult:
    nodes: int
    lower_bound: int
    heuristic_nodes: int
    method: (
        str  # how `nodes` was found: "none", "first-fit-decreasing", "spread-fill", "dot-product", "cp-sat"
    )
    proven_optimal: bool
    # One entry per node: group index -> pods of that group on the node.
    bins: list[dict[int, int]] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""

    @property
    def gap(self) -> float:
        """(nodes - lower bound) / lower bound; 0 when both are 0."""
        if self.lower_bound == 0:
            return 0.0 if self.nodes == 0 else math.inf
        return (self.nodes - self.lower_bound) / self.lower_bound


class PackingError(ValueError):
    """A pod that fits no empty node (the caller reports it as unplaced before packing)."""


# ---------------------------------------------------------------- bounds


def _martello_toth_l2(sizes: Sequence[tuple[int, int]], capacity: int) -> int:
    """Martello & Toth's L2 bound for one dimension; `sizes` is (size, count) pairs."""
    if capacity <= 0:
        return 0
    best = 0
    thresholds = {s for s, _ in sizes if 0 < s <= capacity // 2} | {0}
    for k in thresholds:
        big = sum(c for s, c in sizes if s > capacity - k)  # J1: alone in a bin
        mid = [(s, c) for s, c in sizes if capacity - k >= s > capacity / 2]  # J2: one per bin
        small = sum(s * c for s, c in sizes if capacity / 2 >= s >= k and s > 0)  # J3
        mid_count = sum(c for _, c in mid)
        free_in_mid = mid_count * capacity - sum(s * c for s, c in mid)
        extra = max(0, math.ceil((small - free_in_mid) / capacity))
        best = max(best, big + mid_count + extra)
    return best


# Fekete-Schepers dual feasible functions u^(k) tried for k = 1..FS_MAX_K.
FS_MAX_K = 40


def _fekete_schepers(sizes: Sequence[tuple[int, int]], capacity: int) -> int:
    """max over k of ceil(sum of u^(k)(size / capacity)), where u^(k)(x) = x if (k+1)x is whole, else
    floor((k+1)x) / k (Fekete & Schepers, "New classes of fast lower bounds for bin packing", 2001).
    Exact integer arithmetic: every term is scaled by capacity x k."""
    best = 0
    for k in range(1, FS_MAX_K + 1):
        scaled = 0
        for size, count in sizes:
            if ((k + 1) * size) % capacity == 0:
                scaled += count * size * k
            else:
                scaled += count * ((k + 1) * size // capacity) * capacity
        best = max(best, -(-scaled // (capacity * k)))
    return best


def lower_bound(groups: Sequence[Group], capacity: Sequence[int]) -> int:
    """Max over resources of three one-dimensional bounds (a bound on one resource holds for all):
    volume, Martello-Toth L2 and Fekete-Schepers. The last counts the space a node cannot use when pod
    sizes do not divide its capacity (4-CPU pods on a 15.89-CPU node: three fit, not 3.97)."""
    bound = 0
    for r, cap in enumerate(capacity):
        sizes = [(g.demand[r], g.count) for g in groups if g.count and g.demand[r]]
        if not sizes or cap <= 0:
            continue
        volume = -(-sum(s * c for s, c in sizes) // cap)
        bound = max(bound, volume, _martello_toth_l2(sizes, cap), _fekete_schepers(sizes, cap))
    return bound


# ---------------------------------------------------------------- first-fit-decreasing


def _fits(free: list[int], demand: tuple[int, ...]) -> int:
    """How many pods of this demand fit the free capacity."""
    best = math.inf
    for f, d in zip(free, demand, strict=True):
        if d > 0:
            best = min(best, f // d)
    return int(best) if best != math.inf else 1 << 30


def first_fit_decreasing(
    groups: Sequence[Group], capacity: Sequence[int], order: Sequence[int]
) -> list[dict[int, int]]:
    """FFD over groups in `order`: each group's pods go into the first nodes with room, in bulk."""
    frees: list[list[int]] = []
    bins: list[dict[int, int]] = []
    for gi in order:
        group = groups[gi]
        left = group.count
        if left <= 0:
            continue
        for b, free in enumerate(frees):
            if left == 0:
                break
            k = min(left, _fits(free, group.demand))
            if k:
                for r, d in enumerate(group.demand):
                    free[r] -= k * d
                bins[b][gi] = bins[b].get(gi, 0) + k
                left -= k
        per_node = _fits(list(capacity), group.demand)
        if left and per_node == 0:
            raise PackingError(f"{group.key}: one pod does not fit an empty node")
        while left:
            k = min(left, per_node)
            frees.append([c - k * d for c, d in zip(capacity, group.demand, strict=True)])
            bins.append({gi: k})
            left -= k
    return bins


def _orders(groups: Sequence[Group], capacity: Sequence[int]) -> list[list[int]]:
    """Several decreasing orders (by largest share, by total share, by each resource): keep the best."""

    def share(g: Group, r: int) -> float:
        return g.demand[r] / capacity[r] if capacity[r] > 0 else 0.0

    def by_resource(r: int) -> Callable[[int], tuple[float, float | str]]:
        # a factory binds r per key (a lambda in the loop would see only the last r)
        return lambda i: (share(groups[i], r), max(share(groups[i], s) for s in range(len(capacity))))

    idx = list(range(len(groups)))
    keys: list[Callable[[int], tuple[float, float | str]]] = [
        lambda i: (max(share(groups[i], r) for r in range(len(capacity))), groups[i].key),
        lambda i: (sum(share(groups[i], r) for r in range(len(capacity))), groups[i].key),
    ]
    for r in range(len(capacity)):
        if any(g.demand[r] for g in groups):
            keys.append(by_resource(r))
    orders, seen = [], set()
    for key in keys:
        order = sorted(idx, key=key, reverse=True)
        if tuple(order) not in seen:
            seen.add(tuple(order))
            orders.append(order)
    return orders


def dot_product_greedy(groups: Sequence[Group], capacity: Sequence[int]) -> list[dict[int, int]]:
    """Node-by-node greedy: fill each node with the pod whose (normalised) requests align best with what the
    node has left ("DotProduct" of Panigrahy et al., Heuristics for Vector Bin Packing, 2011). It balances
    resources where FFD, sorting by one size, strands CPU on GPU-full nodes."""
    import numpy as np  # OR-Tools' own dependency; imported here to keep start-up fast

    cap = np.array(capacity, dtype=np.int64)
    demand = np.array([g.demand for g in groups], dtype=np.int64).reshape(len(groups), len(capacity))
    left = np.array([g.count for g in groups], dtype=np.int64)
    scale = np.where(cap > 0, 1.0 / np.maximum(cap, 1), 0.0)
    normalised = demand * scale
    too_big = ~np.all(demand <= cap, axis=1)
    if np.any(left[too_big] > 0):
        raise PackingError("a pod does not fit an empty node")
    bins: list[dict[int, int]] = []
    while left.any():
        free = cap.copy()
        content: dict[int, int] = {}
        while True:
            fits = (left > 0) & np.all(demand <= free, axis=1)
            if not fits.any():
                break
            score = normalised @ (free * scale)
            score[~fits] = -1.0
            gi = int(np.argmax(score))
            free -= demand[gi]
            left[gi] -= 1
            content[gi] = content.get(gi, 0) + 1
        bins.append(content)
    return bins


def _volume_bound(groups: Sequence[Group], left: Sequence[int], capacity: Sequence[int]) -> int:
    bound = 0
    for r, cap in enumerate(capacity):
        if cap > 0:
            bound = max(bound, -(-sum(g.demand[r] * n for g, n in zip(groups, left, strict=True)) // cap))
    return bound


def spread_fill(
    groups: Sequence[Group], capacity: Sequence[int], order: Sequence[int]
) -> list[dict[int, int]]:
    """Give every node its share of each group (what is left / nodes still needed), then top it up FFD-style.

    With many replicas of a few shapes, nodes that all carry the average mix pack resources evenly: no node
    runs out of CPU while GPU units are left, which is where FFD loses nodes on time-sliced pools.
    """
    left = [g.count for g in groups]
    carry = [0.0] * len(groups)
    bins: list[dict[int, int]] = []
    while any(left):
        nodes_left = max(1, _volume_bound(groups, left, capacity))
        free = list(capacity)
        content: dict[int, int] = {}
        for phase in (0, 1):
            for gi in order:
                if not left[gi]:
                    continue
                room = _fits(free, groups[gi].demand)
                if phase == 0:
                    carry[gi] += left[gi] / nodes_left
                    want = int(carry[gi])
                    take = min(want, room, left[gi])
                    carry[gi] -= take
                else:
                    take = min(room, left[gi])
                if take:
                    for r, d in enumerate(groups[gi].demand):
                        free[r] -= take * d
                    left[gi] -= take
                    content[gi] = content.get(gi, 0) + take
        if not content:
            raise PackingError("a pod does not fit an empty node")
        bins.append(content)
    return bins


def heuristic(groups: Sequence[Group], capacity: Sequence[int]) -> tuple[list[dict[int, int]], str]:
    """The best packing of first-fit-decreasing (several orders), spread-fill and the dot-product greedy."""
    orders = _orders(groups, capacity)
    best, name = min(
        ((first_fit_decreasing(groups, capacity, o), "first-fit-decreasing") for o in orders),
        key=lambda found: len(found[0]),
    )
    if len(best) > lower_bound(groups, capacity):
        for bins, method in (
            (spread_fill(groups, capacity, orders[0]), "spread-fill"),
            (dot_product_greedy(groups, capacity), "dot-product"),
        ):
            if len(bins) < len(best):
                best, name = bins, method
    return best, name


# ---------------------------------------------------------------- exact (CP-SAT)


def _solve_exact(
    groups: Sequence[Group],
    capacity: Sequence[int],
    hint: list[dict[int, int]],
    bound: int,
    time_limit_s: float,
) -> tuple[list[dict[int, int]] | None, int, bool, str]:
    """(bins or None, proven lower bound, optimal?, note) from CP-SAT on counts per (group, node)."""
    from ortools.sat.python import cp_model  # imported here: loading OR-Tools costs ~0.3 s

    n_bins = len(hint)
    model = cp_model.CpModel()
    used = [model.new_bool_var(f"used{b}") for b in range(n_bins)]
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for gi, g in enumerate(groups):
        per_node = min(g.count, _fits(list(capacity), g.demand))
        for b in range(n_bins):
            x[gi, b] = model.new_int_var(0, per_node, f"x{gi}_{b}")
            # A pod needs a node even when it requests nothing the model counts: no pods on an unused node.
            model.add(x[gi, b] <= per_node * used[b])
        model.add(sum(x[gi, b] for b in range(n_bins)) == g.count)
    for b in range(n_bins):
        for r, cap in enumerate(capacity):
            terms = [g.demand[r] * x[gi, b] for gi, g in enumerate(groups) if g.demand[r]]
            if terms:
                model.add(sum(terms) <= cap * used[b])
        if b + 1 < n_bins:
            model.add_implication(used[b + 1], used[b])  # nodes are identical: use a prefix of them
    model.add(sum(used) >= bound)
    model.minimize(sum(used))
    for b, content in enumerate(hint):
        model.add_hint(used[b], 1)
        for gi in range(len(groups)):
            model.add_hint(x[gi, b], content.get(gi, 0))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, time_limit_s)
    solver.parameters.num_workers = 2  # CI runs on 2 cores
    status = solver.solve(model)
    proven = max(bound, math.ceil(solver.best_objective_bound - 1e-6))
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, proven, False, f"cp-sat: {solver.status_name(status).lower()} within {time_limit_s:g}s"
    bins = []
    for b in range(n_bins):
        if solver.value(used[b]):
            content = {gi: solver.value(x[gi, b]) for gi in range(len(groups)) if solver.value(x[gi, b])}
            bins.append(content)
    optimal = status == cp_model.OPTIMAL
    return (
        bins,
        (len(bins) if optimal else proven),
        optimal,
        "" if optimal else "cp-sat stopped at its time limit",
    )


# Above this many nodes a pool is not packed: the lower bound is reported instead.
MAX_PACKED_NODES = 10_000


def pack(
    groups: Sequence[Group], capacity: Sequence[int], *, exact: bool = True, time_limit_s: float = 2.0
) -> PackResult:
    """Nodes needed for the groups on identical nodes of `capacity`, with a lower bound and the method."""
    start = time.perf_counter()
    groups = [g for g in groups if g.count > 0]
    if not groups:
        return PackResult(0, 0, 0, "none", True, [], time.perf_counter() - start)
    for g in groups:
        if any(d > c for d, c in zip(g.demand, capacity, strict=True)):
            raise PackingError(f"{g.key}: one pod does not fit an empty node")
    bound = lower_bound(groups, capacity)
    if bound > MAX_PACKED_NODES:
        # No node group gets near this (EKS caps a managed node group at a few hundred nodes); packing pod by
        # pod would take minutes for a typo like `replicas: 2147483647`. The bound alone says it cannot fit.
        return PackResult(bound, bound, bound, "lower-bound", False, [], time.perf_counter() - start,
                          f"not packed: demand needs at least {bound} nodes (over {MAX_PACKED_NODES})")
    bins, method = heuristic(groups, capacity)
    result = PackResult(len(bins), bound, len(bins), method, len(bins) == bound, bins)
    if result.proven_optimal or not exact:
        result.seconds = time.perf_counter() - start
        return result
    if len(groups) * len(bins) > MAX_EXACT_VARIABLES:
        result.note = (
            f"exact solve skipped: {len(groups)} groups x {len(bins)} nodes is above "
            f"{MAX_EXACT_VARIABLES} variables"
        )
        result.seconds = time.perf_counter() - start
        return result
    solved, proven, optimal, note = _solve_exact(groups, capacity, bins, bound, time_limit_s)
    result.lower_bound = max(bound, proven)
    if solved is not None and len(solved) < len(bins):
        result.nodes, result.bins, result.method = len(solved), solved, "cp-sat"
    result.proven_optimal = optimal or result.nodes == result.lower_bound
    result.note = note
    result.seconds = time.perf_counter() - start
    return result
