"""The capacity plan of one cluster: placement, nodes needed at min and max demand, GPU units, cost"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..allocatable import instance_type_of, node_allocatable, pod_limit
from ..catalog import Catalog
from ..cluster_model import ClusterModel
from ..model import Manifest, Pool, PoolFile, SharingMode
from .constraints import HostPort, host_ports
from .cost import HOURS_PER_MONTH, NodePrice, load_spot_table, node_price
from .demand import DaemonSetDemand, PodDemand
from .facts import ClusterFacts
from .headroom import PoolHeadroom, pool_headroom
from .packing import PackResult
from .poolpack import Level, PoolContext, PoolPacker, counts_at, describe_bound
from .problem import PlanConstraints

MIB = 2**20
# Resources the plan packs on besides GPU resources; ephemeral storage is not in the pool file.
BASE_RESOURCES = ("cpu", "memory", "pods")
DEFAULT_TIME_LIMIT_S = 2.0


@dataclass
class Unplaced:
    """A workload some or all of whose pods no node can take, and the constraint that keeps them out."""

    name: str
    manifest: Manifest
    reason: str
    # node-selection (taints, nodeSelector, node affinity), resources, hostPort, podAntiAffinity,
    # podAffinity, topologySpreadConstraints
    constraint: str = "node-selection"
    pool: str | None = None
    pods: dict[str, int] | None = None  # pods left out at min and max demand
    # The workload when no pool admits it at all (not in the JSON): capacity/fit.py asks the cluster model
    # whether the rule fits-no-pool owns the finding.
    workload: PodDemand | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "object": self.manifest.ref.to_json(),
            "file": self.manifest.source.file,
            "line": self.manifest.source.line,
            "workload": self.name,
            "reason": self.reason,
            "constraint": self.constraint,
            "pool": self.pool,
            "pods_unplaced": self.pods,
        }


@dataclass
class PoolPlan:
    pool: Pool
    node_capacity: dict[str, int]  # one node, after the DaemonSets that land on the pool
    daemonset_overhead: dict[str, int]
    daemonsets: list[str]
    workloads: list[PodDemand]
    at_min: PackResult
    at_max: PackResult
    gpu: list[dict[str, Any]]
    price: NodePrice
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # What was packed, so a picture can say which pods each node holds: the resource order of the demand
    # vectors. The items behind at_min.bins and at_max.bins (bins index them) are min_level/max_level.problem.
    resources: list[str] = field(default_factory=list)
    zones: tuple[str, ...] = ()
    zones_source: str = ""
    pod_limit: tuple[int, str] = (0, "")
    min_level: Level | None = None
    max_level: Level | None = None
    headroom: PoolHeadroom | None = None
    constraints: dict[int, list[str]] = field(default_factory=dict)  # id(workload) -> rules applied
    priority: dict[int, int] = field(default_factory=dict)
    critical: set[int] = field(default_factory=set)

    @property
    def binding(self) -> str:
        """What drives the nodes needed at maximum demand when it is a constraint, not resources."""
        return describe_bound(self.max_level) if self.max_level else ""

    def billed_nodes(self, needed: int) -> int:
        """Nodes the node group runs: never below min_size, never above max_size."""
        return min(max(needed, self.pool.min_size), self.pool.max_size)

    def cost_per_hour(self, needed: int) -> float:
        return round(self.billed_nodes(needed) * self.price.usd_per_hour, 4)

    @property
    def fits_at_max(self) -> bool:
        return self.at_max.nodes <= self.pool.max_size

    def to_json(self) -> dict[str, Any]:
        cost_min, cost_max = self.cost_per_hour(self.at_min.nodes), self.cost_per_hour(self.at_max.nodes)
        return {
            "pool": self.pool.name,
            "instance_type": self.pool.planning_instance_type,
            "capacity_type": self.pool.capacity_type,
            "sharing": self.pool.gpu.sharing if self.pool.gpu else None,
            "nodes_configured": {"min": self.pool.min_size, "max": self.pool.max_size},
            "nodes_needed": {"min_demand": self.at_min.nodes, "max_demand": self.at_max.nodes},
            "lower_bound": {"min_demand": self.at_min.lower_bound, "max_demand": self.at_max.lower_bound},
            "gap": {"min_demand": _ratio(self.at_min.gap), "max_demand": _ratio(self.at_max.gap)},
            "method": {"min_demand": self.at_min.method, "max_demand": self.at_max.method},
            "proven_optimal": {
                "min_demand": self.at_min.proven_optimal,
                "max_demand": self.at_max.proven_optimal,
            },
            "nodes_billed": {
                "min_demand": self.billed_nodes(self.at_min.nodes),
                "max_demand": self.billed_nodes(self.at_max.nodes),
            },
            "gpu_units": self.gpu,
            "node_allocatable": self.node_capacity,
            "daemonset_overhead_per_node": self.daemonset_overhead,
            "daemonsets": self.daemonsets,
            "workloads": [
                {
                    "workload": w.name,
                    "file": w.manifest.source.file,
                    "min_replicas": w.min_replicas,
                    "max_replicas": w.max_replicas,
                    "scaled_by": w.scaled_by,
                    "constraints": self.constraints.get(id(w), []),
                    "priority": self.priority.get(id(w), 0),
                    "critical": id(w) in self.critical,
                }
                for w in self.workloads
            ],
            "price_usd_per_node_hour": self.price.usd_per_hour,
            "price_basis": self.price.basis,
            "cost_usd_per_hour": {"at_min_demand": cost_min, "at_max_demand": cost_max},
            "cost_usd_per_month": {
                "at_min_demand": round(cost_min * HOURS_PER_MONTH, 2),
                "at_max_demand": round(cost_max * HOURS_PER_MONTH, 2),
            },
            "warnings": self.warnings,
            "notes": self.notes,
            "zones": list(self.zones),
            "zones_source": self.zones_source,
            "max_pods_per_node": {"value": self.pod_limit[0], "basis": self.pod_limit[1]},
            "binding_constraint": {
                "min_demand": describe_bound(self.min_level) if self.min_level else "",
                "max_demand": self.binding,
            },
            "headroom": self.headroom.to_json(self.pool, self.max_level) if self.headroom and self.max_level
            else None,
        }


@dataclass
class ClusterPlan:
    cluster: str
    region: str
    pools: list[PoolPlan]
    unplaced: list[Unplaced]
    not_modelled: list[Manifest]
    warnings: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)  # what-if settings (`--set`) this plan used
    # HelmReleases whose chart did not render (helm_cluster.not_rendered): their pods and DaemonSets are missing
    helm_not_rendered: list[dict[str, Any]] = field(default_factory=list)
    # Errors in the files the plan reads (capacity/inputs.py): with any, the figures cover part of the repository
    input_errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every file the plan reads rendered and the pool file has no rule errors."""
        return not self.input_errors

    @property
    def ok(self) -> bool:
        """Every workload placed and the maximum demand within every pool's max size."""
        return not self.unplaced and all(p.fits_at_max for p in self.pools)

    def cost_per_hour(self, which: str) -> float:
        return round(
            sum(p.cost_per_hour(p.at_min.nodes if which == "min" else p.at_max.nodes) for p in self.pools), 4
        )

    def to_json(self) -> dict[str, Any]:
        spot = load_spot_table()
        cost_min, cost_max = self.cost_per_hour("min"), self.cost_per_hour("max")
        return {
            "cluster": self.cluster,
            "region": self.region,
            "fits": self.ok,
            "complete": self.complete,
            "input_errors": self.input_errors,
            "overrides": self.overrides,
            "pools": [p.to_json() for p in self.pools],
            "unplaced": [u.to_json() for u in self.unplaced],
            "total": {
                "cost_usd_per_hour": {"at_min_demand": cost_min, "at_max_demand": cost_max},
                "cost_usd_per_month": {
                    "at_min_demand": round(cost_min * HOURS_PER_MONTH, 2),
                    "at_max_demand": round(cost_max * HOURS_PER_MONTH, 2),
                },
            },
            "not_modelled": [{"object": m.ref.to_json(), "file": m.source.file} for m in self.not_modelled],
            "warnings": self.warnings + [f"{p.pool.name}: {w}" for p in self.pools for w in p.warnings],
            "helm_releases_not_rendered": self.helm_not_rendered,
            "prices": {
                "spot_table_date": spot.date,
                "spot_source": spot.source,
                "hours_per_month": HOURS_PER_MONTH,
            },
        }


def shortfall_warnings(needed: int, max_size: int, binding: str, gpu: list[dict[str, Any]]) -> list[str]:
    """What the maximum demand of a pool lacks within max_size: more nodes than max_size, GPU units beyond
    what max_size nodes offer. `check` fails on each (capacity/max-size; GPU units beyond max_size while the
    nodes fit mean pods left unplaced, capacity/unplaced). The JSON keeps them in `warnings` (its contract);
    the text and Markdown print them as errors, and output.py calls this with the JSON's figures (`gpu` is
    the JSON's `gpu_units`) to tell them from the warnings that only ask for an action."""
    out = []
    if needed > max_size:
        out.append(
            f"maximum demand needs {needed} nodes, max_size is {max_size} (short by {needed - max_size})"
            + (f"; driven by {binding}" if binding else "")
        )
    for g in gpu:
        if g["requested_at_max_demand"] > g["available_at_max_size"]:
            out.append(
                f"{g['resource']}: maximum demand requests {g['requested_at_max_demand']}, "
                f"{max_size} nodes offer {g['available_at_max_size']}"
            )
    return out


def _ratio(value: float) -> float | None:
    return None if math.isinf(value) else round(value, 4)


# ---------------------------------------------------------------- building the plan


def _choose_pool(fits: list[str], pools: dict[str, Pool], prices: dict[str, NodePrice]) -> str:
    """Several pools admit the pod: plan it on the cheapest node, then the pool file's order."""
    order = list(pools)
    return min(fits, key=lambda name: (prices[name].usd_per_hour, order.index(name)))


def _unplaced_reason(reasons: dict[str, str]) -> str:
    if not reasons:
        return "the cluster has no node pools"
    return "fits no pool: " + "; ".join(f"{pool}: {why}" for pool, why in reasons.items())


def _vector(requests: dict[str, int], resources: list[str]) -> tuple[int, ...]:
    out = []
    for r in resources:
        value = requests.get(r, 0)
        # Memory in MiB keeps CP-SAT's coefficients small; pods round up, nodes round down (safe side).
        out.append(-(-value // MIB) if r == "memory" else value)
    return tuple(out)


def _capacity_vector(capacity: dict[str, int], resources: list[str]) -> tuple[int, ...]:
    return tuple(
        max(0, capacity.get(r, 0) // MIB if r == "memory" else capacity.get(r, 0)) for r in resources
    )


def _autoscaler_warnings(
    pool: Pool, per_node_gpu: dict[str, int], physical: int, scale_from_zero_tags: bool
) -> list[str]:
    """Where cluster-autoscaler would plan with physical GPUs, not the units pods request, because the node
    group lacks the scale-from-zero resource tags (docs/facts.md#autoscaling-gpu-pools). With the tags (our
    Terraform sets them) there is nothing to do, so nothing is said."""
    if scale_from_zero_tags or pool.gpu is None or pool.sharing in (SharingMode.NONE, None) or not physical:
        return []
    units = ", ".join(f"{r}={n}" for r, n in per_node_gpu.items())
    return [
        f"cluster-autoscaler cannot scale this pool from zero correctly: without node-template tags it counts "
        f"{physical} physical GPUs per node, while pods request {units} per node ({pool.gpu.sharing}); tag the "
        "node group's ASG with k8s.io/cluster-autoscaler/node-template/resources/<resource> = these values "
        "(docs/facts.md#autoscaling-gpu-pools)"
    ]


def _daemonset_ports(
    daemonsets: list[DaemonSetDemand], names: dict[str, list[str]]
) -> dict[str, list[tuple[HostPort, str]]]:
    """Per pool: the host ports every node has taken by a DaemonSet (NodePorts), with the DaemonSet's name."""
    by_name = {ds.name: ds for ds in daemonsets}
    out: dict[str, list[tuple[HostPort, str]]] = {}
    for pool, ds_names in names.items():
        for name in ds_names:
            ds = by_name.get(name)
            if ds is not None:
                out.setdefault(pool, []).extend((hp, name) for hp in host_ports(ds.template.pod_spec))
    return out


def _port_taken(w: PodDemand, taken: list[tuple[HostPort, str]]) -> str | None:
    if not taken:  # most pools: no DaemonSet holds a host port, so the pod's own ports need not be read
        return None
    for mine in host_ports(w.template.pod_spec):
        for theirs, ds in taken:
            if mine.conflicts(theirs):
                return f"{mine} is taken on every node by DaemonSet {ds}"
    return None


def _level_unplaced(
    pool: Pool, at_min: Level, at_max: Level
) -> list[Unplaced]:
    """One entry per workload with pods the pool's nodes cannot take, at either demand level."""
    found: dict[int, Unplaced] = {}
    for which, level in (("min_demand", at_min), ("max_demand", at_max)):
        for s in level.shortages:
            entry = found.get(id(s.workload))
            if entry is None:
                entry = found[id(s.workload)] = Unplaced(
                    s.workload.name, s.workload.manifest, s.reason, s.constraint, pool.name,
                    {"min_demand": 0, "max_demand": 0},
                )
            assert entry.pods is not None
            entry.pods[which] += s.count
            if which == "max_demand":  # the reason at maximum demand is the one to read
                entry.reason, entry.constraint = s.reason, s.constraint
    for entry in found.values():
        assert entry.pods is not None
        entry.reason = (
            f"{entry.pods['max_demand']} pod(s) at maximum demand "
            f"({entry.pods['min_demand']} at minimum) cannot be placed on pool {pool.name}: {entry.reason}"
        )
    return list(found.values())


def plan_cluster(
    cluster: str,
    manifests: list[Manifest],
    pool_file: PoolFile,
    catalog: Catalog,
    *,
    exact: bool = True,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    facts: ClusterFacts | None = None,
    model: ClusterModel | None = None,
) -> ClusterPlan:
    """The plan of one cluster from its rendered objects and (possibly overridden) pool file.

    `model` is the cluster model `check` built for the same objects and pool file (its placements are the
    ones the rules judged); without it the plan builds it the same way. `facts` (zones, VPC CNI mode,
    managed node groups) come from the cluster's Terraform (facts.py); without them every pool has three
    assumed zones and the ENI pod limit."""
    facts = facts or ClusterFacts()
    pools = list(pool_file.pools.values())
    region = pool_file.region
    for pool in pools:
        instance_type_of(pool, catalog)  # a ToolError naming the pool file line, before any work
    if model is None:
        model = ClusterModel(manifests, pool_file, catalog)
    demand = model.demand
    overhead, ds_names = model.overhead.requests, model.overhead.names
    warnings = list(model.overhead.warnings)
    ds_ports = _daemonset_ports(demand.daemonsets, ds_names)
    index = model.index
    views = {v.pool.name: v for v in index.views}
    by_name = {p.name: p for p in pools}
    spot = load_spot_table()
    prices = {p.name: node_price(p, catalog, region, spot) for p in pools}

    placed: dict[str, list[PodDemand]] = {p.name: [] for p in pools}
    placed_pool: dict[int, str] = {}
    unplaced: list[Unplaced] = []
    for w in demand.pods:
        if w.max_replicas <= 0:
            continue
        placement = model.placement(w)
        fits = list(placement.fits)
        reasons = dict(placement.reasons)
        for name in list(fits):
            taken = _port_taken(w, ds_ports.get(name, []))
            if taken:
                fits.remove(name)
                reasons[name] = taken
        if not fits:
            ports_only = placement.fits and all(
                "is taken on every node by DaemonSet" in reasons.get(n, "") for n in placement.fits
            )
            unplaced.append(
                Unplaced(w.name, w.manifest, _unplaced_reason(reasons),
                         "hostPort" if ports_only else _selection_constraint(reasons),
                         None, {"min_demand": w.min_replicas, "max_demand": w.max_replicas}, workload=w)
            )
            continue
        chosen = _choose_pool(fits, by_name, prices)
        placed[chosen].append(w)
        placed_pool[id(w)] = chosen

    constraints = PlanConstraints([w for ws in placed.values() for w in ws], manifests, index, facts)
    zones_of = {p.name: facts.pool_zones(p) for p in pools}
    all_zones = {name: z for name, (z, _) in zones_of.items()}
    busy = {
        at_max: {p.name for p in pools if p.min_size > 0 or any(
            (w.max_replicas if at_max else w.min_replicas) > 0 for w in placed[p.name])}
        for at_max in (False, True)
    }
    contexts = {at_max: PoolContext(busy[at_max], placed_pool, all_zones) for at_max in (False, True)}

    pool_plans = []
    for pool in pools:
        capacity = dict(node_allocatable(pool, catalog))
        limit = pod_limit(
            pool, catalog, prefix_delegation=facts.prefix_delegation, managed_node_group=facts.managed_node_groups
        )
        capacity["pods"] = limit[0]
        for resource, used in overhead[pool.name].items():
            if resource in capacity:
                capacity[resource] -= used
        per_node_gpu = views[pool.name].gpu_units  # the model's pool: computed once
        workloads = placed[pool.name]
        resources = list(BASE_RESOURCES) + sorted(
            {r for r in per_node_gpu}
            | {r for w in workloads for r in w.requests if r in capacity} - set(BASE_RESOURCES)
        )
        cap_vec = _capacity_vector(capacity, resources)
        zones, zones_source = zones_of[pool.name]
        packer = PoolPacker(pool, workloads, resources, _vector, cap_vec, zones, constraints)
        counts_max, counts_min = counts_at(workloads, True), counts_at(workloads, False)
        max_level = packer.level(counts_max, contexts[True], exact=exact, time_limit_s=time_limit_s)
        # Without autoscalers or batch work both demands are the same: pack once.
        same = counts_min == counts_max and busy[False] == busy[True]
        min_level = max_level if same else packer.level(
            counts_min, contexts[False], exact=exact, time_limit_s=time_limit_s
        )
        at_min, at_max = min_level.result, max_level.result
        gpu: list[dict[str, Any]] = [  # PoolPlan.gpu
            {
                "resource": r,
                "per_node": n,
                "available_at_max_size": n * pool.max_size,
                "requested_at_min_demand": sum(w.requests.get(r, 0) * w.min_replicas for w in workloads),
                "requested_at_max_demand": sum(w.requests.get(r, 0) * w.max_replicas for w in workloads),
            }
            for r, n in per_node_gpu.items()
        ]
        plan = PoolPlan(
            pool,
            capacity,
            overhead[pool.name],
            ds_names[pool.name],
            workloads,
            at_min,
            at_max,
            gpu,
            prices[pool.name],
            resources=resources,
            zones=zones,
            zones_source=zones_source,
            pod_limit=limit,
            min_level=min_level,
            max_level=max_level,
        )
        for w in workloads:
            pc = constraints.constraints(w)
            plan.priority[id(w)] = pc.priority
            if pc.critical:
                plan.critical.add(id(w))
            plan.constraints[id(w)] = list(dict.fromkeys(
                [*max_level.rules.get(id(w), []), *min_level.rules.get(id(w), []), *pc.notes]
            ))
        critical = [w for w in workloads if id(w) in plan.critical and counts_max.get(id(w))]
        plan.headroom = pool_headroom(pool, packer, max_level, counts_max, contexts[True], critical, plan.priority)
        unplaced.extend(_level_unplaced(pool, min_level, max_level))
        plan.warnings.extend(shortfall_warnings(at_max.nodes, pool.max_size, plan.binding, gpu))
        plan.warnings.extend(
            _autoscaler_warnings(
                pool,
                per_node_gpu,
                catalog.instance_types[pool.planning_instance_type].gpu_count,
                facts.scale_from_zero_tags,
            )
        )
        idle = pool.min_size - at_min.nodes
        if idle > 0:
            plan.notes.append(f"min_size {pool.min_size} keeps {idle} node(s) beyond minimum demand")
        if pool.spot and "no spot price" in prices[pool.name].basis:
            plan.notes.append(prices[pool.name].basis)
        for result in (at_min, at_max):
            if result.note:
                plan.notes.append(result.note)
        pool_plans.append(plan)
    # HelmReleases are the platform's controllers, always there and small (docs/capacity.md says so once);
    # other such kinds are workloads whose capacity someone must add by hand: that asks for an action.
    unmodelled = [m for m in demand.not_modelled if m.ref.kind != "HelmRelease"]
    if unmodelled:
        kinds = sorted({m.ref.kind for m in unmodelled})
        warnings.append(
            f"{len(unmodelled)} object(s) of kinds {', '.join(kinds)} run pods the rendered objects do not "
            "show; they are not in this plan: leave room for them in their pools' max_size"
        )
    return ClusterPlan(cluster, region, pool_plans, unplaced, demand.not_modelled, warnings)


def _selection_constraint(reasons: dict[str, str]) -> str:
    """node-selection when taints or node selection keep the pod off every pool, else resources."""
    if reasons and all(("taint" in r or "nodeSelector" in r or "node affinity" in r) for r in reasons.values()):
        return "node-selection"
    return "resources" if reasons else "node-selection"
