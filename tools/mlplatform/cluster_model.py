"""One model of a cluster, built once per run: its pools, its workloads with their replica ranges, the
DaemonSet overhead on each pool, and where every pod template can be placed.

The policy rules (rules/_base.py), the capacity fit (capacity/fit.py) and the planner (capacity/plan.py)
read this one model, so they cannot disagree about where a pod lands: a workload that fits no pool is the
same workload for all of them, and the rule fits-no-pool is the one finding that says so (capacity/fit.py
defers to it). See docs/architecture.md, "The cluster model".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .autoscaling import Scale, TargetKey, resolve_scalers, target_key
from .capacity.demand import DaemonSetDemand, Demand, PodDemand, build_demand
from .catalog import Catalog
from .model import Manifest, ObjectRef, Pool, PoolFile
from .scheduling import Placement, PoolIndex

Workload = PodDemand | DaemonSetDemand


@dataclass
class DaemonSetOverhead:
    """Per pool: the summed requests of the DaemonSets that land on each node, their names, and warnings."""

    requests: dict[str, dict[str, int]] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class ClusterModel:
    """Pools, workloads and placements of one cluster (see the module docstring)."""

    def __init__(
        self,
        manifests: list[Manifest],
        pool_file: PoolFile | None,
        catalog: Catalog,
        *,
        ignored_autoscalers: Iterable[tuple[str, ObjectRef]] = (),
    ) -> None:
        """`ignored_autoscalers`: (file, ref) of autoscalers that fail their schema. They still own their
        target's replica count (`scale_of`, read by ha-replicas), but the demand does not read a range from
        them: their workloads are planned with their own replicas (the schema error is the finding, not a
        range read with KEDA's default of 100)."""
        self.manifests = manifests
        self.pool_file = pool_file
        self.catalog = catalog
        self.pools: dict[str, Pool] = dict(pool_file.pools) if pool_file else {}
        self.region = pool_file.region if pool_file else None
        self.scalers: dict[TargetKey, Scale] = resolve_scalers(manifests)
        ignored = set(ignored_autoscalers)
        ranges = self.scalers
        if ignored:
            ranges = resolve_scalers(m for m in manifests if (m.source.file, m.ref) not in ignored)
        self.demand: Demand = build_demand(manifests, ranges)
        self.index = PoolIndex(self.pools.values(), catalog, region=self.region)
        self._placements: dict[tuple[int, bool], Placement] = {}
        self.overhead = self._daemonset_overhead()
        self.index.set_overhead(self.overhead.requests)

    # ------------------------------------------------------------ workloads

    @property
    def workloads(self) -> list[Workload]:
        """Every pod template, in the order of the rendered objects (DaemonSets included)."""
        return self.demand.workloads

    def scale_of(self, manifest: Manifest) -> Scale | None:
        """The autoscaler that owns this object's replica count, with the range it allows."""
        ref = manifest.ref
        return self.scalers.get(target_key(ref.namespace, ref.kind, ref.name))

    def rule_templates(self) -> list[Workload]:
        """The templates the policy rules read (each with its `misfit`: None when well formed)."""
        return [w for w in self.workloads if w.rules_read]

    def read_by_rules(self, w: Workload) -> bool:
        """Does a policy rule place this workload (and so own "it fits no pool")?"""
        return bool(self.pools) and w.rules_read and not w.is_daemonset and w.misfit is None

    # ------------------------------------------------------------ placements

    def placement(self, w: Workload) -> Placement:
        """Where the scheduler could bind a pod of this template: a DaemonSet against an empty node, any
        other pod against what the DaemonSets leave. Computed once per template."""
        return self.place(w.template.pod_spec, w.requests, daemonset=w.is_daemonset)

    def place(self, pod_spec: dict[str, Any], requests: dict[str, int], *, daemonset: bool = False) -> Placement:
        # Keyed by the spec object: the rules, the fit and the planner hold the same dicts of the same manifests.
        key = (id(pod_spec), daemonset)
        found = self._placements.get(key)
        if found is None:
            found = self._placements[key] = self.index.place(pod_spec, requests, empty_node=daemonset)
        return found

    def _daemonset_overhead(self) -> DaemonSetOverhead:
        out = DaemonSetOverhead({p: {} for p in self.pools}, {p: [] for p in self.pools})
        for ds in self.demand.daemonsets:
            placement = self.placement(ds)
            for pool_name in placement.selectable:
                if pool_name not in placement.fits:
                    out.warnings.append(
                        f"DaemonSet {ds.name} does not fit a node of pool {pool_name}: "
                        f"{placement.reasons.get(pool_name, '')}"
                    )
                taken = out.requests[pool_name]
                for resource, amount in ds.requests.items():
                    taken[resource] = taken.get(resource, 0) + amount
                out.names[pool_name].append(ds.name)
        return out
