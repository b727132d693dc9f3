"""From the workloads placed on a pool to a constrained packing problem (cpack.Problem), per demand level.

Each workload with a constraint of its own, or selected by another workload's affinity term, is one item;
the other workloads are merged by request vector, as packing.py does. How each constraint becomes a rule of
the model, with the reason the plan prints:

- anti-affinity on the hostname key: against its own pods, one pod per node; against another workload on the
  pool, the two never share a node (whichever of the two carries the term: the scheduler checks both);
- anti-affinity on a zone key: against itself, one pod per zone; against another workload, no shared zone;
- affinity on the hostname key: each node with the pod holds a pod the term selects (only its own pods
  selected: all replicas on one node); on a zone key, the same per zone;
- a host port: one pod per node, and no shared node with another workload using the same port;
- hostname spread (DoNotSchedule): domains are the nodes of every pool the pod's node selection admits
  (nodeAffinityPolicy Honor) and, with nodeTaintsPolicy Honor, whose taints it tolerates. Another such pool
  with nodes holds none of its pods, so the global minimum is 0 and each node takes at most maxSkew; else
  max - min over the pool's nodes is at most maxSkew (below minDomains nodes, at most maxSkew each);
- zone spread: domains are the zones of those pools. Fewer than minDomains, or zones the pod cannot use
  (another pool's), make the global minimum 0: at most maxSkew per zone; else even over the pool's zones;
- a topology key that is a label every node of the pool carries with one value (a pool label, the region):
  the pool is one domain; a key the pool's nodes do not have: affinity and spread cannot be met there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ..model import Manifest, Pool
from ..scheduling import PoolIndex, match_node_selection, untolerated
from . import cpack
from .constraints import (
    HostPort,
    PodConstraints,
    PriorityClasses,
    Spread,
    Term,
    pod_constraints,
    spread_counts_own,
    term_selects,
    topology_level,
)
from .demand import PodDemand
from .facts import ClusterFacts


@dataclass
class PreShortfall:
    workload: PodDemand
    count: int
    constraint: str
    reason: str


@dataclass
class Built:
    problem: cpack.Problem
    members: list[list[PodDemand]]  # workloads of each item
    shortfalls: list[PreShortfall] = field(default_factory=list)  # cut before packing (pool-wide domains)
    constrained: bool = False
    rules: dict[int, list[str]] = field(default_factory=dict)  # id(workload) -> the rules it got


class PlanConstraints:
    """Every workload's constraints and which workloads each affinity term selects, for one cluster."""

    def __init__(
        self,
        workloads: Iterable[PodDemand],
        manifests: Iterable[Manifest],
        index: PoolIndex,
        facts: ClusterFacts,
    ) -> None:
        manifests = list(manifests)
        self.priorities = PriorityClasses.of(manifests)
        self.ns_labels: dict[str, dict[str, str]] = {}
        for m in manifests:
            if m.obj.get("kind") != "Namespace":  # the raw kind before a reference, as PriorityClasses.of does
                continue
            ref = m.ref
            if ref.kind == "Namespace" and not ref.group:
                self.ns_labels[ref.name] = {str(k): str(v) for k, v in m.labels.items()}
        self.index = index
        self.views = {v.pool.name: v for v in index.views}
        self.facts = facts
        self.workloads = list(workloads)
        self.pc: dict[int, PodConstraints] = {
            id(w): pod_constraints(w.template, self.priorities) for w in self.workloads
        }
        # (id(owner), field, term index) -> the workloads (the owner included) whose pods the term selects
        self.selected: dict[tuple[int, str, int], list[PodDemand]] = {}
        self.targeted: set[int] = set()
        for w in self.workloads:
            own = self.pc[id(w)]
            for term in (*own.affinity, *own.anti_affinity):
                hit = [
                    v
                    for v in self.workloads
                    if term_selects(term, own, self.pc[id(v)], v is w, self.ns_labels)
                ]
                self.selected[id(w), term.field, term.index] = hit
                self.targeted.update(id(v) for v in hit if v is not w)
        # A pool's problem is built at each demand level and failure scenario: what those builds ask of every
        # workload is read once here (a name is a new string from the manifest each time it is asked).
        self.names: dict[int, str] = {id(w): w.name for w in self.workloads}
        self.own_item: set[int] = {
            id(w) for w in self.workloads if self.pc[id(w)].constrained or id(w) in self.targeted
        }

    def constraints(self, w: PodDemand) -> PodConstraints:
        return self.pc[id(w)]

    def needs_item(self, w: PodDemand) -> bool:
        return id(w) in self.own_item

    # ------------------------------------------------------------ building one pool's problem

    def build(
        self,
        pool: Pool,
        workloads: list[PodDemand],
        counts: Mapping[int, int],
        demands: Mapping[int, tuple[int, ...]],
        capacity: tuple[int, ...],
        zones: tuple[str, ...],
        pools_with_nodes: set[str],
        placed_pool: Mapping[int, str],
        all_zones: Mapping[str, tuple[str, ...]],
    ) -> Built:
        """The problem of `pool` at one demand level (`counts`: id(workload) -> pods; `demands`: id(workload) ->
        one pod's request vector)."""
        items: list[cpack.Item] = []
        members: list[list[PodDemand]] = []
        item_of: dict[int, int] = {}
        merged: dict[tuple[int, ...], int] = {}
        live = [w for w in workloads if counts.get(id(w), 0) > 0]
        for w in live:
            n = counts[id(w)]
            demand = demands[id(w)]
            name = self.names[id(w)]
            if id(w) in self.own_item:
                item_of[id(w)] = len(items)
                items.append(cpack.Item(name, demand, n))
                members.append([w])
            elif demand in merged:
                i = merged[demand]
                items[i].count += n
                items[i].key += f", {name}"
                members[i].append(w)
            else:
                merged[demand] = len(items)
                items.append(cpack.Item(name, demand, n))
                members.append([w])
        built = Built(cpack.Problem(capacity, zones, items), members)
        labels = self.views[pool.name].labels if pool.name in self.views else {}
        cut: dict[int, int] = {}
        for w in live:
            if id(w) in item_of:
                self._rules(w, item_of, built, pool, labels, counts, zones, pools_with_nodes, placed_pool,
                            all_zones, cut)
        for i, it in enumerate(items):
            it.count -= cut.get(i, 0)
        built.constrained = bool(
            built.problem.host_conflicts
            or built.problem.zone_conflicts
            or any(
                it.node_cap is not None or it.host_skew is not None or it.zone_rule is not None
                or it.host_affinity or it.zone_affinity
                for it in items
            )
            or built.shortfalls
        )
        return built

    def _rules(
        self,
        w: PodDemand,
        item_of: dict[int, int],
        built: Built,
        pool: Pool,
        labels: Mapping[str, str],
        counts: Mapping[int, int],
        zones: tuple[str, ...],
        pools_with_nodes: set[str],
        placed_pool: Mapping[int, str],
        all_zones: Mapping[str, tuple[str, ...]],
        cut: dict[int, int],
    ) -> None:
        i = item_of[id(w)]
        it = built.problem.items[i]
        own = self.pc[id(w)]
        notes = built.rules.setdefault(id(w), [])
        n = counts[id(w)]

        def shortfall(keep: int, constraint: str, reason: str) -> None:
            left = n - cut.get(i, 0)
            if left > keep:
                built.shortfalls.append(PreShortfall(w, left - keep, constraint, reason))
                cut[i] = cut.get(i, 0) + left - keep
                notes.append(reason)

        def cap(value: int, constraint: str, reason: str) -> None:
            if it.node_cap is None or value < it.node_cap:
                it.node_cap, it.node_cap_reason, it.node_cap_constraint = value, reason, constraint
            notes.append(reason)

        def zone_rule(rule: cpack.ZoneRule) -> None:
            notes.append(rule.reason)
            old = it.zone_rule
            if old is None:
                it.zone_rule = rule
            elif old.kind == cpack.ONE or rule.kind == cpack.ONE:
                it.zone_rule = old if old.kind == cpack.ONE else rule
            elif old.kind == cpack.CAP or rule.kind == cpack.CAP:
                # Both hold: at most the smaller cap per zone (a cap filled evenly keeps an even spread).
                caps = [r for r in (old, rule) if r.kind == cpack.CAP]
                it.zone_rule = min(caps, key=lambda r: r.skew)
            else:
                it.zone_rule = min((old, rule), key=lambda r: r.skew)

        def on_pool(term: Term) -> list[PodDemand]:
            hit = self.selected.get((id(w), term.field, term.index), [])
            return [v for v in hit if counts.get(id(v), 0) > 0 and id(v) in item_of]

        def anywhere(term: Term) -> list[PodDemand]:
            return [v for v in self.selected.get((id(w), term.field, term.index), []) if placed_pool.get(id(v))]

        for term in own.anti_affinity:
            level = topology_level(term.topology_key, labels)
            why = term.describe()
            hits = on_pool(term)
            if level == "host":
                for v in hits:
                    if v is w:
                        cap(1, "podAntiAffinity", f"{why} selects its own pods: one pod per node")
                    else:
                        pair = frozenset({i, item_of[id(v)]})
                        built.problem.host_conflicts.setdefault(pair, f"{w.name} {why} selects {v.name}")
                        notes.append(f"{why}: never on a node with {v.name}")
            elif level == "zone":
                for v in hits:
                    if v is w:
                        zone_rule(cpack.ZoneRule(cpack.CAP, 1, f"{why} selects its own pods: one pod per zone",
                                                 "podAntiAffinity"))
                    else:
                        pair = frozenset({i, item_of[id(v)]})
                        built.problem.zone_conflicts.setdefault(pair, f"{w.name} {why} selects {v.name}")
                        notes.append(f"{why}: never in a zone with {v.name}")
            elif level == "pool":
                if any(v is w for v in hits):
                    shortfall(1, "podAntiAffinity",
                              f"{why} selects its own pods and every node of pool {pool.name} has the same "
                              f"{term.topology_key}: one pod in the pool")
                others = [v for v in anywhere(term) if v is not w
                          and self._same_value(term.topology_key, pool.name, placed_pool[id(v)])]
                if others:
                    shortfall(0, "podAntiAffinity", f"{why} selects {others[0].name}, which runs in the same "
                                                    f"{term.topology_key} domain")
        for term in own.affinity:
            level = topology_level(term.topology_key, labels)
            why = term.describe()
            hits = on_pool(term)
            ids = frozenset(item_of[id(v)] for v in hits)
            if level == "host":
                if not hits:
                    elsewhere = sorted({placed_pool[id(v)] for v in anywhere(term)})
                    where = f" (they run on pool {', '.join(elsewhere)})" if elsewhere else ""
                    shortfall(0, "podAffinity", f"{why}: no pod on pool {pool.name} matches it{where}")
                    continue
                it.host_affinity = (*it.host_affinity, ids)
                it.host_affinity_reason = (*it.host_affinity_reason, why)
                notes.append(f"{why}: only on nodes with " + ", ".join(v.name for v in hits))
            elif level == "zone":
                if hits:
                    it.zone_affinity = (*it.zone_affinity, ids)
                    it.zone_affinity_reason = (*it.zone_affinity_reason, why)
                    notes.append(f"{why}: only in zones with " + ", ".join(v.name for v in hits))
                elif not anywhere(term):
                    shortfall(0, "podAffinity", f"{why}: no pod matches it")
                else:
                    notes.append(f"{why}: the pods it selects run on other pools; zones assumed shared")
            elif level == "pool":
                same = [v for v in anywhere(term) if v is w or
                        self._same_value(term.topology_key, pool.name, placed_pool[id(v)])]
                if not same:
                    shortfall(0, "podAffinity", f"{why}: no pod in the same {term.topology_key} domain")
            else:
                shortfall(0, "podAffinity", f"{why}: nodes of pool {pool.name} have no label {term.topology_key}")
        for spread in own.spreads:
            self._spread(w, spread, own, it, pool, labels, zones, pools_with_nodes, all_zones,
                         shortfall, cap, zone_rule, notes)
        if own.host_ports:
            ports = ", ".join(str(p) for p in own.host_ports)
            cap(1, "hostPort", f"{ports}: one pod per node")
            for v_id, j in item_of.items():
                if j == i:
                    continue
                other = self.pc[v_id]
                clash = _port_clash(own.host_ports, other.host_ports)
                if clash is not None:
                    name = built.members[j][0].name
                    built.problem.host_conflicts.setdefault(frozenset({i, j}), f"{clash} of {w.name} and {name}")
                    notes.append(f"{clash}: never on a node with {name}")

    def _same_value(self, key: str, pool_a: str, pool_b: str) -> bool:
        a, b = self.views.get(pool_a), self.views.get(pool_b)
        return bool(a and b and key in a.labels and a.labels.get(key) == b.labels.get(key))

    def _domain_pools(self, w: PodDemand, spread: Spread) -> list[str]:
        """Pools whose nodes are domains of the spread (nodeAffinityPolicy / nodeTaintsPolicy)."""
        spec = w.template.pod_spec
        tolerations = spec.get("tolerations")
        tolerations = tolerations if isinstance(tolerations, list) else []
        out = []
        for name, view in self.views.items():
            if spread.node_affinity_policy != "Ignore" and match_node_selection(spec, view.labels) is not None:
                continue
            if spread.node_taints_policy == "Honor" and untolerated(tolerations, view.taints):
                continue
            out.append(name)
        return out

    def _spread(
        self,
        w: PodDemand,
        spread: Spread,
        own: PodConstraints,
        it: cpack.Item,
        pool: Pool,
        labels: Mapping[str, str],
        zones: tuple[str, ...],
        pools_with_nodes: set[str],
        all_zones: Mapping[str, tuple[str, ...]],
        shortfall: Callable[[int, str, str], None],
        cap: Callable[[int, str, str], None],
        zone_rule: Callable[[cpack.ZoneRule], None],
        notes: list[str],
    ) -> None:
        """One DoNotSchedule spread of `w` as a rule of its item (`shortfall`, `cap`, `zone_rule`: of _rules)."""
        why = spread.describe()
        if not spread_counts_own(spread, own):
            notes.append(f"{why}: its labelSelector does not select its own pods, so it does not limit them")
            return
        level = topology_level(spread.topology_key, labels)
        domain = [p for p in self._domain_pools(w, spread) if p == pool.name or p in pools_with_nodes]
        others = [p for p in domain if p != pool.name]
        s, md = spread.max_skew, spread.min_domains
        if level == "host":
            if others:
                cap(s, "topologySpreadConstraints",
                    f"{why}: nodes of pool(s) {', '.join(others)} are domains without its pods, so the global "
                    f"minimum is 0 and each node takes at most {s}")
            else:
                it.host_skew = s if it.host_skew is None else min(it.host_skew, s)
                it.host_min_domains = max(it.host_min_domains, md)
                it.host_spread_reason = f"{why}: max - min over the nodes of pool {pool.name} at most {s}"
                notes.append(it.host_spread_reason)
        elif level == "zone":
            eligible = {z for p in domain for z in (zones if p == pool.name else all_zones.get(p, ()))}
            foreign = sorted(eligible - set(zones))
            if len(eligible) < md:
                zone_rule(cpack.ZoneRule(cpack.CAP, s, f"{why}: pool {pool.name} has {len(zones)} zone(s) and "
                                                       f"{len(eligible)} eligible domain(s) < minDomains {md}, "
                                                       f"so the global minimum is 0 and each zone takes at most {s}"))
            elif foreign:
                zone_rule(cpack.ZoneRule(cpack.CAP, s, f"{why}: zone(s) {', '.join(foreign)} of other pools are "
                                                       f"domains without its pods, so each zone takes at most {s}"))
            else:
                zone_rule(cpack.ZoneRule(cpack.EVEN, s, f"{why}: max - min over the {len(zones)} zones of pool "
                                                        f"{pool.name} at most {s}"))
        elif level == "pool":
            values = {self.views[p].labels.get(spread.topology_key) for p in domain if p in self.views}
            values.discard(None)
            if len(values) > 1 or len(values) < md:
                shortfall(s, "topologySpreadConstraints",
                          f"{why}: pool {pool.name} is one {spread.topology_key} domain of {len(values)}, so the "
                          f"global minimum is 0 and the pool takes at most {s}")
        else:
            shortfall(0, "topologySpreadConstraints",
                      f"{why}: nodes of pool {pool.name} have no label {spread.topology_key}, the scheduler "
                      f"bypasses them")


def _port_clash(mine: list[HostPort], theirs: list[HostPort]) -> HostPort | None:
    for a in mine:
        for b in theirs:
            if a.conflicts(b):
                return a
    return None
