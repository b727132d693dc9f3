"""Packing under the scheduler's hard constraints: pods per node, pods that may not share a node or a zone,
pods that must share one, and topology spread (DoNotSchedule) over the pool's nodes and zones.

packing.py packs identical pods by resources alone; this module adds what kube-scheduler's filters enforce
on top (NodePorts, InterPodAffinity, PodTopologySpread; docs/capacity.md cites the semantics). The model:

- an `Item` is `count` identical pods of one workload (or merged unconstrained workloads);
- a node is a bin of `capacity` in one zone of the pool; the zones are the pool's (pool file or Terraform);
- `node_cap`: at most that many pods of the item per node (required anti-affinity on the hostname key
  against itself, a host port, or a hostname spread whose global minimum is forced to 0);
- `host_skew`: a hostname spread with DoNotSchedule: max - min of the item's pods over the pool's nodes;
- `zone_rule`: even (max - min over all the pool's zones), cap (at most `skew` per zone: the global minimum
  is 0 because minDomains exceeds the domains, or zone anti-affinity against itself), one (self-affinity);
- `host_conflicts` / `zone_conflicts`: pairs of items whose pods may not share a node / a zone
  (anti-affinity in either direction, a host port both use);
- `host_affinity` / `zone_affinity`: per required affinity term, the items whose pods satisfy it.

`solve()` first removes the pods no placement can hold (a shortfall, with the constraint that causes it),
then packs the rest with a constraint-aware first-fit-decreasing, computes a lower bound that holds for any
placement, and, when the two differ and the model is small enough, runs CP-SAT with every constraint.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from .packing import MAX_EXACT_VARIABLES, Group, PackingError, PackResult, _fits, lower_bound

EVEN, CAP, ONE = "even", "cap", "one"
# The even hostname spread is searched by growing the node count; past this many rounds the item falls back
# to at most maxSkew pods per node, which is always a valid (if larger) answer.
EVEN_ROUNDS = 12


@dataclass(frozen=True)
class ZoneRule:
    kind: str  # EVEN | CAP | ONE
    skew: int
    reason: str
    constraint: str = "topologySpreadConstraints"


@dataclass
class Item:
    key: str
    demand: tuple[int, ...]
    count: int
    node_cap: int | None = None
    node_cap_reason: str = ""
    node_cap_constraint: str = ""
    host_skew: int | None = None
    host_min_domains: int = 1
    host_spread_reason: str = ""
    zone_rule: ZoneRule | None = None
    host_affinity: tuple[frozenset[int], ...] = ()
    host_affinity_reason: tuple[str, ...] = ()
    zone_affinity: tuple[frozenset[int], ...] = ()
    zone_affinity_reason: tuple[str, ...] = ()

    @property
    def zone_bound(self) -> bool:
        return self.zone_rule is not None or bool(self.zone_affinity)


@dataclass
class Problem:
    capacity: tuple[int, ...]
    zones: tuple[str, ...]
    items: list[Item]
    host_conflicts: dict[frozenset[int], str] = field(default_factory=dict)
    zone_conflicts: dict[frozenset[int], str] = field(default_factory=dict)

    def zoned(self) -> bool:
        """Whether any constraint depends on the zone of a node (else zones are not modelled at all)."""
        return bool(self.zone_conflicts) or any(i.zone_bound for i in self.items)


@dataclass
class Shortfall:
    item: int
    count: int
    constraint: str  # the constraint's field: podAntiAffinity, podAffinity, topologySpreadConstraints, ...
    reason: str


@dataclass
class Bound:
    nodes: int
    reason: str
    items: tuple[int, ...] = ()


@dataclass
class Solution:
    result: PackResult
    zones: list[str]  # zone of each bin of result.bins
    placed: list[int]  # pods placed per item
    shortfalls: list[Shortfall]
    bounds: list[Bound]  # the terms of the lower bound, largest first


# ---------------------------------------------------------------- what no placement can hold


def _alone_per_node(item: Item, capacity: Sequence[int]) -> int:
    per = _fits(list(capacity), item.demand)
    return min(per, item.node_cap) if item.node_cap is not None else per


def admissible(problem: Problem) -> tuple[list[int], list[Shortfall]]:
    """Pods of each item a placement can hold at all, and the shortfalls with the constraint responsible."""
    counts = [it.count for it in problem.items]
    short: list[Shortfall] = []

    def cut(i: int, keep: int, constraint: str, reason: str) -> None:
        if counts[i] > keep:
            short.append(Shortfall(i, counts[i] - max(0, keep), constraint, reason))
            counts[i] = max(0, keep)

    present = {i for i, it in enumerate(problem.items) if it.count > 0}
    for i, it in enumerate(problem.items):
        if not counts[i]:
            continue
        if it.zone_rule is not None and it.zone_rule.kind == CAP:
            cut(i, len(problem.zones) * it.zone_rule.skew, it.zone_rule.constraint, it.zone_rule.reason)
        for term, why in zip(it.host_affinity, it.host_affinity_reason, strict=True):
            others = (term - {i}) & present
            if others:
                continue
            if i in term:  # only its own pods match: the first pod goes anywhere, every other one joins it
                one = _alone_per_node(it, problem.capacity)
                cut(i, one, "podAffinity", f"{why}: only its own pods match, so all share one node, "
                                           f"which holds {one}")
            else:
                cut(i, 0, "podAffinity", f"{why}: no pod on this pool matches it")
        for term, why in zip(it.zone_affinity, it.zone_affinity_reason, strict=True):
            if not ((term - {i}) & present) and i not in term:
                cut(i, 0, "podAffinity", f"{why}: no pod on this pool matches it")
    return counts, short


# ---------------------------------------------------------------- heuristic


class _Bin:
    __slots__ = ("content", "free", "zone")

    def __init__(self, zone: str, capacity: Sequence[int]) -> None:
        self.zone = zone
        self.free = list(capacity)
        self.content: dict[int, int] = {}

    def add(self, i: int, k: int, demand: Sequence[int]) -> None:
        for r, d in enumerate(demand):
            self.free[r] -= k * d
        self.content[i] = self.content.get(i, 0) + k


# From this many nodes on, first fit reads the free capacity of every node as one numpy matrix (_Vectors): over
# hundreds of nodes that is a vector operation. Below it a plain loop over the nodes costs less than numpy's
# overhead per call, and a run whose packings all stay small (a check's rollout dry runs, a small cluster)
# never imports numpy at all, which alone costs 0.1-0.15 s of CPU. Both give the same rooms
# (test_cpack.py::test_rooms_are_the_same_node_by_node_and_as_a_matrix).
VECTOR_MIN_BINS = 32


class _Vectors:
    """The free capacity and zone of every bin of a _Packer as numpy arrays, kept in step with its bins."""

    def __init__(self, problem: Problem, bins: Sequence[_Bin], zone_id: dict[str, int]) -> None:
        import numpy as np  # OR-Tools' own dependency; imported only for large packings (VECTOR_MIN_BINS)

        self._np = np
        rows = max(16, 2 * len(bins))
        self.free = np.zeros((rows, len(problem.capacity)), dtype=np.int64)
        self.zones = np.zeros(rows, dtype=np.int64)
        for n, b in enumerate(bins):
            self.free[n] = b.free
            self.zones[n] = zone_id.get(b.zone, -1)
        self.demand = [np.array(it.demand, dtype=np.int64) for it in problem.items]

    def copy(self) -> _Vectors:
        other = _Vectors.__new__(_Vectors)
        other.__dict__.update(self.__dict__)
        other.free, other.zones = self.free.copy(), self.zones.copy()
        return other

    def add_bin(self, n: int, free: Sequence[int], zone: int) -> None:
        if n == len(self.zones):
            self.free = self._np.concatenate([self.free, self._np.zeros_like(self.free)])
            self.zones = self._np.concatenate([self.zones, self._np.zeros_like(self.zones)])
        self.free[n] = free
        self.zones[n] = zone

    def take(self, index: int, i: int, k: int) -> None:
        self.free[index] -= k * self.demand[i]

    def fits(self, i: int, n: int, zone: int | None, allowed: list[int] | None) -> list[tuple[int, int]]:
        """(bin, pods of item i it takes by resources) for the first n bins with room, in `zone` (its id; -2: a
        zone the problem does not have) or among the `allowed` zone ids (None: any)."""
        np = self._np
        d = self.demand[i]
        mask = d > 0
        fits = (self.free[:n, mask] // d[mask]).min(axis=1) if mask.any() else np.full(n, 1 << 30)
        if zone is not None:
            fits[self.zones[:n] != zone] = 0
        elif allowed is not None:
            fits[~np.isin(self.zones[:n], allowed)] = 0
        return [(b, int(fits[b])) for b in np.flatnonzero(fits > 0).tolist()]


class _Packer:
    """One first-fit-decreasing pass under the constraints; `shortfalls` collects pods it could not place."""

    def __init__(self, problem: Problem, counts: list[int]) -> None:
        self.p = problem
        self.counts = counts
        self.bins: list[_Bin] = []
        self.placed = [0] * len(problem.items)
        self.shortfalls: list[Shortfall] = []
        self.conflicts: dict[int, set[int]] = {}
        for pair in problem.host_conflicts:
            a, b = tuple(pair)
            self.conflicts.setdefault(a, set()).add(b)
            self.conflicts.setdefault(b, set()).add(a)
        self.zone_conf: dict[int, set[int]] = {}
        for pair in problem.zone_conflicts:
            a, b = tuple(pair)
            self.zone_conf.setdefault(a, set()).add(b)
            self.zone_conf.setdefault(b, set()).add(a)
        self.zones_of: dict[int, set[str]] = {}
        self._zone_id = {z: n for n, z in enumerate(problem.zones)}
        self._vectors: _Vectors | None = None  # made when the packing reaches VECTOR_MIN_BINS nodes

    def clone(self) -> _Packer:
        """An independent copy of the packing so far (bins, counts, free capacity)."""
        other = _Packer.__new__(_Packer)
        other.__dict__.update(self.__dict__)
        other.bins = []
        for b in self.bins:
            c = _Bin(b.zone, ())
            c.free, c.content = list(b.free), dict(b.content)
            other.bins.append(c)
        other.placed = list(self.placed)
        other.shortfalls = list(self.shortfalls)
        other.zones_of = {i: set(z) for i, z in self.zones_of.items()}
        other._vectors = self._vectors.copy() if self._vectors is not None else None
        return other

    def add_bin(self, b: _Bin) -> None:
        if self._vectors is not None:
            self._vectors.add_bin(len(self.bins), b.free, self._zone_id.get(b.zone, -1))
        self.bins.append(b)

    def rooms(self, i: int, zone: str | None, allowed: set[str]) -> list[tuple[int, int]]:
        """(bin index, pods of item i it takes) for every bin with room, in order: first fit's candidates."""
        return list(self.iter_rooms(i, zone, allowed))

    def iter_rooms(self, i: int, zone: str | None, allowed: set[str]) -> Iterator[tuple[int, int]]:
        """rooms(), read as the caller goes: a dry run (Extender.add) that stops at the first nodes with room
        reads no further. Only for a packing that does not change meanwhile (first fit itself takes rooms())."""
        if not self.bins:
            return
        if self._vectors is None and len(self.bins) >= VECTOR_MIN_BINS:
            self._vectors = _Vectors(self.p, self.bins, self._zone_id)
        candidates = self._fits(i, zone, allowed) if self._vectors is None else self._vectors.fits(
            i, len(self.bins), self._zone_id.get(zone, -2) if zone is not None else None,
            [self._zone_id[z] for z in allowed if z in self._zone_id] if len(allowed) < len(self.p.zones) else None,
        )
        it = self.p.items[i]
        plain = it.node_cap is None and not self.conflicts.get(i) and not it.host_affinity
        for b, k in candidates:
            if not plain:
                k = self._constrained_room(i, self.bins[b], k)
            if k > 0:
                yield b, k

    def _fits(self, i: int, zone: str | None, allowed: set[str]) -> Iterator[tuple[int, int]]:
        """rooms() by resources and zone alone, node by node: what _Vectors.fits computes for many nodes."""
        demand = self.p.items[i].demand
        if zone is not None:
            usable = {zone} & self._zone_id.keys()
        elif len(allowed) < len(self.p.zones):
            usable = allowed & self._zone_id.keys()
        else:
            usable = None  # every node
        for index, b in enumerate(self.bins):
            if usable is not None and b.zone not in usable:
                continue
            k = _fits(b.free, demand)
            if k > 0:
                yield index, k

    def room(self, i: int, b: _Bin) -> int:
        return self._constrained_room(i, b, _fits(b.free, self.p.items[i].demand))

    def _constrained_room(self, i: int, b: _Bin, k: int) -> int:
        it = self.p.items[i]
        if it.node_cap is not None:
            k = min(k, it.node_cap - b.content.get(i, 0))
        if k <= 0:
            return 0
        mine = self.conflicts.get(i)
        if mine and any(j in b.content for j in mine):
            return 0
        for term in it.host_affinity:
            others = term - {i}
            if others:
                if not any(j in b.content for j in others):
                    return 0
            elif i in term and self.placed[i] and i not in b.content:
                return 0  # self-only affinity: every pod joins the first one's node
        return k

    def put(self, i: int, b: _Bin, k: int, index: int | None = None) -> None:
        """Place k pods of item i on bin b (`index`: its position, when it is one of self.bins)."""
        b.add(i, k, self.p.items[i].demand)
        if index is not None and self._vectors is not None:
            self._vectors.take(index, i, k)
        self.placed[i] += k
        self.zones_of.setdefault(i, set()).add(b.zone)

    def may_open(self, i: int) -> bool:
        return self.open_blocker(i) is None

    def open_blocker(self, i: int) -> str | None:
        """Why the item may not open a new node (a required hostname affinity), or None."""
        it = self.p.items[i]
        for term, why in zip(it.host_affinity, it.host_affinity_reason, strict=True):
            if term - {i}:
                return why  # a new node has none of the pods the affinity needs
            if i in term and self.placed[i]:
                return why
        return None

    def allowed_zones(self, i: int) -> list[str]:
        """Zones the item may use: not where a zone-conflicting item runs, only where its zone affinity is met."""
        zones = list(self.p.zones)
        for j in self.zone_conf.get(i, ()):
            zones = [z for z in zones if z not in self.zones_of.get(j, ())]
        for term in self.p.items[i].zone_affinity:
            others = term - {i}
            if others:
                have = set().union(*(self.zones_of.get(j, set()) for j in others))
                zones = [z for z in zones if z in have]
        return zones

    def quotas(self, i: int, n: int, allowed: list[str]) -> dict[str, int] | None:
        """Pods per zone for a zone-bound item (None: any allowed zone)."""
        it = self.p.items[i]
        rule = it.zone_rule
        self_affine = any(i in t and not (t - {i}) for t in it.zone_affinity)
        if rule is None and not self_affine:
            return None
        if not allowed:
            return {}
        if self_affine or (rule is not None and rule.kind == ONE):
            # All in one zone: the allowed zone whose nodes have the most room for it.
            best = max(allowed, key=lambda z: sum(self.room(i, b) for b in self.bins if b.zone == z))
            return {best: n}
        assert rule is not None
        have = {z: 0 for z in allowed}
        for b in self.bins:
            if b.zone in have:
                have[b.zone] += b.content.get(i, 0)
        if rule.kind == EVEN and len(allowed) == len(self.p.zones):
            limit = max(have.values()) + n
        else:
            # CAP, or EVEN with a zone it cannot use: that zone holds 0, so every zone holds at most maxSkew.
            limit = rule.skew
        q = {z: 0 for z in allowed}
        left = n
        # Water-filling: each pod goes to the zone holding the fewest of the item's pods, below the limit.
        while left:
            open_zones = [z for z in allowed if have[z] + q[z] < limit]
            if not open_zones:
                break
            z = min(open_zones, key=lambda zone: (have[zone] + q[zone], allowed.index(zone)))
            q[z] += 1
            left -= 1
        return q

    def place(self, i: int, n: int, reason_if_short: tuple[str, str]) -> None:
        it = self.p.items[i]
        allowed = self.allowed_zones(i)
        allowed_set = set(allowed)
        quotas = self.quotas(i, n, allowed)
        per_zone = quotas if quotas is not None else {None: n}
        missed = 0
        missed_why: tuple[str, str] | None = None
        for zone, quota in per_zone.items():
            left = quota
            if left:
                for index, room in self.rooms(i, zone, allowed_set):
                    k = min(left, room)
                    self.put(i, self.bins[index], k, index)
                    left -= k
                    if not left:
                        break
            while left and self.may_open(i):
                target = zone if zone is not None else self._emptiest(allowed)
                if target is None:
                    break
                b = _Bin(target, self.p.capacity)
                k = min(left, self.room(i, b))
                if k <= 0:
                    raise PackingError(f"{it.key}: one pod does not fit an empty node")
                self.add_bin(b)
                self.put(i, b, k, len(self.bins) - 1)
                left -= k
            if left:
                missed += left
                blocker = self.open_blocker(i)
                if blocker is not None:
                    missed_why = ("podAffinity", f"{blocker}: the nodes running the pods it needs have no room")
        total = sum(per_zone.values())
        if total < n:
            rule = it.zone_rule
            if not allowed:
                why = ("podAntiAffinity" if self.zone_conf.get(i) else "podAffinity",
                       "no zone of the pool is allowed by its zone (anti-)affinity")
            elif rule is not None:
                why = (rule.constraint, f"{rule.reason}; with {len(allowed)} usable zone(s) of "
                                        f"{len(self.p.zones)} at most {total} pods fit")
            else:
                why = reason_if_short
            self.shortfalls.append(Shortfall(i, n - total, *why))
        if missed:
            self.shortfalls.append(Shortfall(i, missed, *(missed_why or reason_if_short)))

    def _emptiest(self, allowed: list[str]) -> str | None:
        if not allowed:
            return None
        used = {z: 0 for z in allowed}
        for b in self.bins:
            if b.zone in used:
                used[b.zone] += 1
        return min(allowed, key=lambda z: used[z])


def _order(problem: Problem, counts: Sequence[int]) -> list[int]:
    """Affinity targets before the items that need them; otherwise the most constrained, then the largest."""
    cap = problem.capacity

    def size(i: int) -> float:
        it = problem.items[i]
        return max((d / c for d, c in zip(it.demand, cap, strict=True) if c > 0), default=0.0)

    def rank(i: int) -> tuple[bool, float, str]:
        it = problem.items[i]
        constrained = it.node_cap is not None or it.zone_bound or it.host_skew is not None
        return (not constrained, -size(i), it.key)

    todo = sorted((i for i in range(len(problem.items)) if counts[i] > 0), key=rank)
    done: list[int] = []
    seen: set[int] = set()

    def visit(i: int, stack: set[int]) -> None:
        if i in seen or i in stack:
            return
        stack.add(i)
        it = problem.items[i]
        for term in (*it.host_affinity, *it.zone_affinity):
            for j in sorted(term - {i}, key=rank):
                if counts[j] > 0:
                    visit(j, stack)
        stack.discard(i)
        seen.add(i)
        done.append(i)

    for i in todo:
        visit(i, set())
    return done


def _even_items(problem: Problem, counts: Sequence[int]) -> list[int]:
    return [i for i, it in enumerate(problem.items) if it.host_skew is not None and counts[i] > 0]


def _ffd(problem: Problem, counts: list[int], order: list[int], preplaced: _Packer | None) -> _Packer:
    packer = preplaced or _Packer(problem, counts)
    for i in order:
        n = counts[i] - packer.placed[i]
        if n > 0:
            packer.place(i, n, ("resources", "no node has room"))
    return packer


def _preplace_even(problem: Problem, counts: list[int], even: list[int], nodes: int) -> _Packer | None:
    """`nodes` bins over the zones in turn, each holding its share (floor or ceil) of every even item."""
    packer = _Packer(problem, counts)
    zones = problem.zones
    for node in range(nodes):
        packer.add_bin(_Bin(zones[node % len(zones)], problem.capacity))
    start = 0
    for i in even:
        n = counts[i]
        base, extra = divmod(n, nodes)
        for step in range(nodes):
            index = (start + step) % nodes
            b = packer.bins[index]
            k = base + (1 if step < extra else 0)
            if not k:
                continue
            if packer.room(i, b) < k:
                return None
            packer.put(i, b, k, index)
        start = (start + extra) % nodes
    return packer


def _heuristic(problem: Problem, counts: list[int], start_nodes: int) -> tuple[_Packer, Problem]:
    """A valid packing; the problem returned is the one it satisfies (even spreads may fall back to caps).

    When pods with a required hostname affinity find no room beside the pods they need, the items they
    need are packed again, spread thinner (at most half as many per node, down to one), and the packing
    that leaves the fewest pods out (then uses the fewest nodes) wins.
    """
    best, solved = _heuristic_once(problem, counts, start_nodes)
    targets = sorted(
        {j for i, it in enumerate(problem.items) if counts[i] for t in it.host_affinity for j in t - {i}}
    )
    if not targets or not any(s.constraint == "podAffinity" for s in best.shortfalls):
        return best, solved
    peak = max((b.content.get(j, 0) for b in best.bins for j in targets), default=1)
    cap = peak
    while cap > 1:
        cap = max(1, cap // 2)
        items = list(problem.items)
        for j in targets:
            it = items[j]
            if it.node_cap is None or it.node_cap > cap:
                items[j] = Item(**{**it.__dict__, "node_cap": cap,
                                   "node_cap_reason": it.node_cap_reason or "spread for the pods that need it"})
        tried = Problem(problem.capacity, problem.zones, items, problem.host_conflicts, problem.zone_conflicts)
        packer, solved_try = _heuristic_once(tried, counts, start_nodes)
        if (_missing(packer), len(packer.bins)) < (_missing(best), len(best.bins)):
            best, solved = packer, solved_try
        if not _missing(best):
            break
    return best, solved


def _missing(packer: _Packer) -> int:
    return sum(s.count for s in packer.shortfalls)


def _heuristic_once(problem: Problem, counts: list[int], start_nodes: int) -> tuple[_Packer, Problem]:
    order = _order(problem, counts)
    even = _even_items(problem, counts)
    if even:
        nodes = max(1, start_nodes, *(problem.items[i].host_min_domains for i in even))
        rest = [i for i in order if i not in even]
        for _ in range(EVEN_ROUNDS):
            pre = _preplace_even(problem, counts, even, nodes)
            if pre is None:
                nodes += 1
                continue
            packer = _ffd(problem, counts, rest, pre)
            if len(packer.bins) == nodes and not violations(problem, packer.bins, packer.placed, counts):
                return packer, problem
            nodes = max(nodes + 1, len(packer.bins))
        problem = as_capped(problem)
    packer = _ffd(problem, counts, order, None)
    return packer, problem


def as_capped(problem: Problem) -> Problem:
    """The same problem with every even hostname spread replaced by at most maxSkew pods per node."""
    items = []
    for it in problem.items:
        if it.host_skew is None:
            items.append(it)
            continue
        cap = it.host_skew if it.node_cap is None else min(it.node_cap, it.host_skew)
        items.append(
            Item(
                **{
                    **it.__dict__,
                    "node_cap": cap,
                    "node_cap_reason": it.node_cap_reason or it.host_spread_reason,
                    "node_cap_constraint": it.node_cap_constraint or "topologySpreadConstraints",
                    "host_skew": None,
                }
            )
        )
    return Problem(problem.capacity, problem.zones, items, problem.host_conflicts, problem.zone_conflicts)


# ---------------------------------------------------------------- checking a packing


def violations(problem: Problem, bins: Sequence[_Bin], placed: Sequence[int], counts: Sequence[int]) -> list[str]:
    """Every constraint a packing breaks (empty when it is valid). Used by the heuristic and the tests."""
    out: list[str] = []
    items = problem.items
    n_bins = len(bins)
    watched = {
        i for i, it in enumerate(items)
        if it.host_skew is not None or it.zone_rule is not None or it.zone_affinity
        or any(i in t and not (t - {i}) for t in it.host_affinity)
    }
    watched |= {i for pair in problem.zone_conflicts for i in pair}
    per_bin: dict[int, list[int]] = {i: [0] * n_bins for i in watched}
    per_zone: dict[int, dict[str, int]] = {i: {z: 0 for z in problem.zones} for i in watched}
    conflicts = [tuple(pair) for pair in problem.host_conflicts]
    for bi, b in enumerate(bins):
        for r, cap in enumerate(problem.capacity):
            if sum(items[i].demand[r] * k for i, k in b.content.items()) > cap:
                out.append(f"node {bi}: resource {r} over capacity")
        for i, k in b.content.items():
            it = items[i]
            if it.node_cap is not None and k > it.node_cap:
                out.append(f"node {bi}: {k} pods of {it.key}, cap {it.node_cap}")
            for term in it.host_affinity:
                others = term - {i}
                if others and not any(j in b.content for j in others):
                    out.append(f"node {bi}: {it.key} without the pods its affinity needs")
            if i in watched:
                per_bin[i][bi] = k
                per_zone[i][b.zone] = per_zone[i].get(b.zone, 0) + k
        for a, c in conflicts:
            if a in b.content and c in b.content:
                out.append(f"node {bi}: {items[a].key} and {items[c].key} share it")
    for i in watched:
        it = items[i]
        counts_i = per_bin[i]
        if any(i in t and not (t - {i}) for t in it.host_affinity) and sum(1 for k in counts_i if k) > 1:
            out.append(f"{it.key}: self-affinity pods on several nodes")
        if it.host_skew is not None and placed[i]:
            low = 0 if n_bins < it.host_min_domains else min(counts_i, default=0)
            if max(counts_i, default=0) - low > it.host_skew:
                out.append(f"{it.key}: hostname skew {max(counts_i) - low} > {it.host_skew}")
        values = list(per_zone[i].values())
        rule = it.zone_rule
        if rule is not None and placed[i]:
            if rule.kind == CAP and max(values) > rule.skew:
                out.append(f"{it.key}: {max(values)} pods in one zone, cap {rule.skew}")
            if rule.kind == EVEN and max(values) - min(values) > rule.skew:
                out.append(f"{it.key}: zone skew {max(values) - min(values)} > {rule.skew}")
            if rule.kind == ONE and sum(1 for v in values if v) > 1:
                out.append(f"{it.key}: pods in several zones")
        for term in it.zone_affinity:
            others = term - {i}
            for z, v in per_zone[i].items():
                if v and others and not any(per_zone.get(j, {}).get(z) for j in others if j in watched) and not any(
                    b.content.get(j) for b in bins if b.zone == z for j in others
                ):
                    out.append(f"{it.key}: in zone {z} without the pods its zone affinity needs")
            if i in term and not others and sum(1 for v in values if v) > 1:
                out.append(f"{it.key}: self zone-affinity pods in several zones")
    for pair in problem.zone_conflicts:
        a, c = tuple(pair)
        for z in problem.zones:
            if per_zone[a].get(z) and per_zone[c].get(z):
                out.append(f"zone {z}: {items[a].key} and {items[c].key} share it")
    for i in range(len(items)):
        if placed[i] > counts[i]:
            out.append(f"{items[i].key}: {placed[i]} placed of {counts[i]}")
    return out


# ---------------------------------------------------------------- lower bound


def _item_bound(it: Item, n: int, capacity: Sequence[int]) -> int:
    """Nodes the item needs alone: pods per node by resources (identical pods: exact), and node_cap."""
    per_node = _alone_per_node(it, capacity)
    return -(-n // per_node) if per_node else 0


def bounds(problem: Problem, placed: Sequence[int]) -> list[Bound]:
    """Terms of a lower bound valid for every placement of `placed` pods; the largest first.

    Resources of everything; per item, its resources alone and its pods per node cap; items that may not
    share a node (a clique of the conflict graph, found greedily) need disjoint nodes; an even zone spread
    forces ceil((n - (zones - 1) x maxSkew) / zones) pods into every zone, whose nodes are disjoint; a zone cap
    spreads pods over at least n / maxSkew zones, one node each. Ignored: pod affinity and the even hostname
    spread (both only add nodes), zone conflicts between different items.
    """
    items = problem.items
    cap = problem.capacity
    live = [i for i in range(len(items)) if placed[i] > 0]
    out: list[Bound] = []
    groups = [Group(items[i].key, items[i].demand, placed[i]) for i in live]
    if groups:
        out.append(Bound(lower_bound(groups, cap), "resources (cpu, memory, pods, GPU units)", tuple(live)))
    alone = {i: _item_bound(items[i], placed[i], cap) for i in live}
    for i in live:
        it = items[i]
        if it.node_cap and -(-placed[i] // it.node_cap) == alone[i]:
            why = f"{it.key}: {it.node_cap_reason} ({placed[i]} pods, at most {it.node_cap} per node)"
        else:
            why = f"{it.key}: its own resources"
        out.append(Bound(alone[i], why, (i,)))
    neighbours: dict[int, set[int]] = {}
    for pair in problem.host_conflicts:
        a, b = tuple(pair)
        if a in alone and b in alone:
            neighbours.setdefault(a, set()).add(b)
            neighbours.setdefault(b, set()).add(a)
    seen_cliques: set[frozenset[int]] = set()
    for seed in sorted(neighbours, key=lambda i: -alone[i]):
        clique = [seed]
        for j in sorted(neighbours[seed], key=lambda i: -alone[i]):
            if all(j in neighbours.get(c, ()) for c in clique):
                clique.append(j)
        key = frozenset(clique)
        if len(clique) > 1 and key not in seen_cliques:
            seen_cliques.add(key)
            names = ", ".join(items[c].key for c in clique)
            out.append(Bound(sum(alone[c] for c in clique), f"pods of {names} may not share a node", tuple(clique)))
    k = len(problem.zones)
    forced: dict[int, int] = {}
    for i in live:
        rule = items[i].zone_rule
        if rule is None:
            continue
        if rule.kind == EVEN:
            m = max(0, -(-(placed[i] - (k - 1) * rule.skew) // k))
            if m:
                forced[i] = m
        elif rule.kind == CAP:
            zones_used = -(-placed[i] // rule.skew)
            if zones_used > 1:
                out.append(Bound(zones_used, f"{items[i].key}: {rule.reason} ({placed[i]} pods, at most "
                                             f"{rule.skew} per zone)", (i,)))
    if forced:
        per_zone = lower_bound([Group(items[i].key, items[i].demand, m) for i, m in forced.items()], cap)
        per_zone = max([per_zone, *(-(-m // cap_i) for i, m in forced.items() if (cap_i := items[i].node_cap))])
        if per_zone * k > 1:
            names = ", ".join(items[i].key for i in forced)
            out.append(Bound(per_zone * k, f"zone spread puts pods of {names} in each of {k} zones", tuple(forced)))
    out.sort(key=lambda b: -b.nodes)
    return out


# ---------------------------------------------------------------- exact (CP-SAT)


def _solve_exact(
    problem: Problem, placed: list[int], hint: list[_Bin], bound: int, time_limit_s: float
) -> tuple[list[_Bin] | None, int, bool, str]:
    from ortools.sat.python import cp_model  # imported here: loading OR-Tools costs ~0.3 s

    items = problem.items
    live = [i for i in range(len(items)) if placed[i] > 0]
    zoned = problem.zoned()
    zones = list(problem.zones) if zoned else [problem.zones[0] if problem.zones else ""]
    per_zone_slots = len(hint)
    slots = [(z, s) for z in zones for s in range(per_zone_slots)]
    model = cp_model.CpModel()
    used = {slot: model.new_bool_var(f"u{slot}") for slot in slots}
    x: dict[tuple[int, tuple[str, int]], cp_model.IntVar] = {}
    p: dict[tuple[int, tuple[str, int]], cp_model.IntVar] = {}
    for i in live:
        it = items[i]
        top = min(placed[i], _alone_per_node(it, problem.capacity))
        for slot in slots:
            x[i, slot] = model.new_int_var(0, top, f"x{i}_{slot}")
            p[i, slot] = model.new_bool_var(f"p{i}_{slot}")
            model.add(x[i, slot] >= 1).only_enforce_if(p[i, slot])
            model.add(x[i, slot] == 0).only_enforce_if(p[i, slot].negated())
            model.add_implication(p[i, slot], used[slot])
        model.add(sum(x[i, slot] for slot in slots) == placed[i])
    for slot in slots:
        for r, c in enumerate(problem.capacity):
            terms = [items[i].demand[r] * x[i, slot] for i in live if items[i].demand[r]]
            if terms:
                model.add(sum(terms) <= c * used[slot])
    for z in zones:
        for s in range(per_zone_slots - 1):
            model.add_implication(used[z, s + 1], used[z, s])  # nodes of a zone are identical: a prefix
    for pair in problem.host_conflicts:
        a, b = tuple(pair)
        if placed[a] and placed[b]:
            for slot in slots:
                model.add_bool_or([p[a, slot].negated(), p[b, slot].negated()])
    n_used = sum(used.values())
    for i in live:
        it = items[i]
        for term in it.host_affinity:
            others = [j for j in term - {i} if placed[j]]
            if others:
                for slot in slots:
                    model.add_bool_or([p[i, slot].negated(), *(p[j, slot] for j in others)])
            elif i in term:
                model.add(sum(p[i, slot] for slot in slots) <= 1)
        if it.host_skew is not None:
            low = model.new_int_var(0, placed[i], f"low{i}")
            enough = model.new_bool_var(f"enough{i}")
            model.add(n_used >= it.host_min_domains).only_enforce_if(enough)
            model.add(n_used <= it.host_min_domains - 1).only_enforce_if(enough.negated())
            for slot in slots:
                model.add(x[i, slot] <= low + it.host_skew).only_enforce_if(enough)
                model.add(x[i, slot] >= low).only_enforce_if([enough, used[slot]])
                model.add(x[i, slot] <= it.host_skew).only_enforce_if(enough.negated())
    if zoned:
        # sum() of variables is a LinearExpr; typed as sum() returns it (0 for no term, never the case here)
        in_zone: dict[tuple[int, str], cp_model.LinearExpr | int] = {}
        q: dict[tuple[int, str], cp_model.IntVar] = {}
        for i in live:
            for z in zones:
                in_zone[i, z] = sum(x[i, (z, s)] for s in range(per_zone_slots))
                q[i, z] = model.new_bool_var(f"q{i}_{z}")
                model.add(in_zone[i, z] >= 1).only_enforce_if(q[i, z])
                model.add(in_zone[i, z] == 0).only_enforce_if(q[i, z].negated())
        for i in live:
            it = items[i]
            rule = it.zone_rule
            if rule is not None:
                if rule.kind == CAP:
                    for z in zones:
                        model.add(in_zone[i, z] <= rule.skew)
                elif rule.kind == ONE:
                    model.add(sum(q[i, z] for z in zones) <= 1)
                else:
                    low = model.new_int_var(0, placed[i], f"zlow{i}")
                    for z in zones:
                        model.add(in_zone[i, z] <= low + rule.skew)
                        model.add(in_zone[i, z] >= low)
            for term in it.zone_affinity:
                others = [j for j in term - {i} if placed[j]]
                if others:
                    for z in zones:
                        model.add_bool_or([q[i, z].negated(), *(q[j, z] for j in others)])
                elif i in term:
                    model.add(sum(q[i, z] for z in zones) <= 1)
        for pair in problem.zone_conflicts:
            a, b = tuple(pair)
            if placed[a] and placed[b]:
                for z in zones:
                    model.add_bool_or([q[a, z].negated(), q[b, z].negated()])
    model.add(n_used >= bound)
    model.minimize(n_used)
    filled = {z: 0 for z in zones}
    for hinted in hint:
        z = hinted.zone if zoned else zones[0]
        slot = (z, filled[z])
        filled[z] += 1
        model.add_hint(used[slot], 1)
        for i in live:
            model.add_hint(x[i, slot], hinted.content.get(i, 0))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, time_limit_s)
    solver.parameters.num_workers = 2  # CI runs on 2 cores
    status = solver.solve(model)
    proven = max(bound, math.ceil(solver.best_objective_bound - 1e-6))
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, proven, False, f"cp-sat: {solver.status_name(status).lower()} within {time_limit_s:g}s"
    out: list[_Bin] = []
    for slot in slots:
        if solver.value(used[slot]):
            node = _Bin(slot[0], problem.capacity)
            for i in live:
                k = solver.value(x[i, slot])
                if k:
                    node.add(i, k, items[i].demand)
            out.append(node)
    optimal = status == cp_model.OPTIMAL
    return out, (len(out) if optimal else proven), optimal, "" if optimal else "cp-sat stopped at its time limit"


# ---------------------------------------------------------------- entry point


def solve(problem: Problem, *, exact: bool = True, time_limit_s: float = 2.0) -> Solution:
    """Nodes the items need under their constraints, with a lower bound, the method and the shortfalls."""
    start = time.perf_counter()
    for it in problem.items:
        if it.count > 0 and any(d > c for d, c in zip(it.demand, problem.capacity, strict=True)):
            raise PackingError(f"{it.key}: one pod does not fit an empty node")
    if not problem.zones:
        raise ValueError("a pool has at least one zone")
    counts, shortfalls = admissible(problem)
    pre_bound = bounds(problem, counts)
    packer, _ = _heuristic(problem, counts, pre_bound[0].nodes if pre_bound else 0)
    shortfalls.extend(packer.shortfalls)
    placed = list(packer.placed)
    # A capped fallback also satisfies the original spread (at most maxSkew per node keeps any skew within
    # maxSkew), so the packing, the bound and the exact model all answer the original problem.
    wrong = violations(problem, packer.bins, placed, counts)
    if wrong:  # a defect of the heuristic, never an answer to print
        raise PackingError("constrained packing broke its constraints: " + "; ".join(wrong[:3]))
    terms = bounds(problem, placed)
    bound = terms[0].nodes if terms else 0
    bins = packer.bins
    method = "constrained-ffd"
    result = PackResult(len(bins), bound, len(bins), method, len(bins) == bound, [], 0.0)
    zoned = problem.zoned()
    # _solve_exact makes two variables per (item, node) it may use (how many pods, and whether any) where the
    # unconstrained model makes one: its limit counts both. Counting one let a single-zone pool of 89 items
    # over 86 nodes into CP-SAT, which then found nothing within its 2 s (benchmarks/plan.py).
    n_vars = 2 * sum(1 for k in placed if k) * len(bins) * (len(problem.zones) if zoned else 1)
    if exact and len(bins) > bound:
        if n_vars > MAX_EXACT_VARIABLES:
            result.note = f"exact solve skipped: {n_vars} variables is above {MAX_EXACT_VARIABLES}"
        else:
            found, proven, optimal, note = _solve_exact(problem, placed, bins, bound, time_limit_s)
            result.lower_bound = max(bound, proven)
            if found is not None and len(found) < len(bins):
                bins, result.nodes, result.method = found, len(found), "cp-sat"
            result.proven_optimal = optimal or result.nodes == result.lower_bound
            result.note = note
            if result.lower_bound > bound:
                terms.insert(0, Bound(result.lower_bound, "cp-sat proof over every constraint", ()))
    result.bins = [dict(b.content) for b in bins]
    result.seconds = time.perf_counter() - start
    return Solution(result, [b.zone for b in bins], placed, _merge(shortfalls), terms)


def _merge(shortfalls: Iterable[Shortfall]) -> list[Shortfall]:
    merged: dict[tuple[int, str, str], Shortfall] = {}
    for s in shortfalls:
        key = (s.item, s.constraint, s.reason)
        if key in merged:
            merged[key].count += s.count
        else:
            merged[key] = Shortfall(s.item, s.count, s.constraint, s.reason)
    return list(merged.values())


# ---------------------------------------------------------------- adding pods to a packing


class Extender:
    """What `extra` more pods of one item need on top of a solution's nodes (a rollout's surge pods).

    The nodes keep their pods; the new pods take free room first (first fit, under every constraint), then
    new nodes. The answer is an upper bound on what a fresh packing would need.
    """

    def __init__(self, problem: Problem, solution: Solution) -> None:
        self.problem = problem
        self.solution = solution
        self.base = self._packer(list(solution.placed))

    def _packer(self, counts: list[int]) -> _Packer:
        packer = _Packer(self.problem, counts)
        for content, zone in zip(self.solution.result.bins, self.solution.zones, strict=True):
            b = _Bin(zone, self.problem.capacity)
            for i, k in content.items():
                packer.put(i, b, k)
            packer.add_bin(b)
        return packer

    def add(self, item: int, extra: int) -> tuple[int, int, str]:
        """(new nodes, pods that fit nowhere, why they do not fit). A dry run: the base packing is shared."""
        it = self.problem.items[item]
        base = self.base
        allowed = base.allowed_zones(item)
        quotas = base.quotas(item, extra, allowed)
        per_zone: dict[str | None, int] = {z: n for z, n in quotas.items()} if quotas is not None else {None: extra}
        missing = extra - sum(per_zone.values())
        why = ""
        if missing:
            rule = it.zone_rule
            why = rule.reason if rule is not None else "no zone of the pool is allowed"
        allowed_set = set(allowed)
        new_nodes = 0
        per_node = _alone_per_node(it, self.problem.capacity)
        blocker = base.open_blocker(item)
        for zone, quota in per_zone.items():
            left = quota
            for _, room in base.iter_rooms(item, zone, allowed_set) if left else ():
                left -= min(left, room)
                if not left:
                    break
            if not left:
                continue
            if blocker is not None:
                missing += left
                why = f"{blocker}: the nodes running the pods it needs have no room"
            else:
                new_nodes += -(-left // per_node)
        return new_nodes, missing, why
