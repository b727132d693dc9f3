"""Kubernetes placement semantics against node pools: taints, tolerations, node selection, resources.

A pool stands for one empty node of its planning instance type (the first entry of `instance_types`).
`place()` answers "on which pools could the scheduler bind a pod of this spec?" with the scheduler's filter
semantics (kube-scheduler TaintToleration, NodeAffinity, NodeResourcesFit plugins):

- Taints: NoSchedule and NoExecute block unless tolerated; PreferNoSchedule only lowers the score.
  A toleration matches a taint when its effect is empty or equal, its key is empty or equal, and its
  operator is Exists or (Equal / empty) with an equal value (k8s.io/api/core/v1 Toleration.ToleratesTaint).
- nodeSelector: every key must be a node label with exactly that value.
- Required node affinity: nodeSelectorTerms are ORed; inside a term the matchExpressions are ANDed; an
  empty term matches nothing. matchFields selects node names (metadata.name), which a pool does not have,
  so a term with matchFields never matches here.
- Resources: the pod's effective request (sum of containers plus sidecar init containers, against the
  largest init container, plus pod overhead; requests default to limits) must fit one node's allocatable
  minus the DaemonSet overhead of the pool.

Node labels of a pool (`node_labels`): the pool's own labels plus those EKS and the NVIDIA GPU Feature
Discovery / GPU Operator put on every node of it and that selectors commonly use:
  kubernetes.io/os=linux, kubernetes.io/arch=amd64, node.kubernetes.io/instance-type=<planning type>,
  eks.amazonaws.com/nodegroup=<pool>, eks.amazonaws.com/capacityType=ON_DEMAND|SPOT,
  topology.kubernetes.io/region=<region> (when known);
  GPU pools: nvidia.com/gpu.present=true, feature.node.kubernetes.io/pci-10de.present=true (NFD),
  nvidia.com/gpu.product=<GFD product>[-SHARED on time-sliced pools], nvidia.com/gpu.count=<physical GPUs>,
  nvidia.com/gpu.replicas=<replicas, 1 without time-slicing>, nvidia.com/gpu.memory=<MiB>,
  nvidia.com/mig.strategy=mixed on MIG pools else none,
  nvidia.com/gpu.sharing-strategy=time-slicing|none, nvidia.com/mig.capable=true|false,
  nvidia.com/gpu.deploy.<operand>=true for the GPU Operator operands.
Labels that differ per node (hostname, zone) are not modelled: a selector on them matches no pool.
MIG pools are modelled with the `mixed` strategy: each profile is its own resource nvidia.com/mig-<profile>
and the MIG-enabled GPUs advertise no nvidia.com/gpu.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .allocatable import gpu_units, node_allocatable
from .catalog import Catalog
from .model import GPU_RESOURCE, MIG_RESOURCE_PREFIX, Pool, SharingMode, Taint
from .quantity import QuantityError, count, cpu_millicores, memory_bytes

BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
# Resources the simulation does not check: node disk size is not part of the pool file.
UNCHECKED_RESOURCES = frozenset({"ephemeral-storage"})
# Operands the GPU Operator labels GPU nodes for (nvidia.com/gpu.deploy.<operand>=true); their DaemonSets
# select on these labels.
GPU_OPERATOR_OPERANDS = (
    "driver",
    "container-toolkit",
    "device-plugin",
    "gpu-feature-discovery",
    "dcgm",
    "dcgm-exporter",
    "node-status-exporter",
    "operator-validator",
)


@dataclass
class Placement:
    fits: list[str]  # names of pools a pod of this spec can be scheduled on (one empty node of the pool)
    reasons: dict[str, str] = field(default_factory=dict)  # pool name -> why it cannot land there
    # Pools whose taints and node selection admit the pod, whether or not its resources fit a node there.
    selectable: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)  # the pod's effective requests, see pod_requests()


# ---------------------------------------------------------------- taints and tolerations


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def tolerates(toleration: Mapping[str, Any], taint: Taint) -> bool:
    """Kubernetes Toleration.ToleratesTaint: does this toleration match the taint?"""
    effect = _text(toleration.get("effect"))
    if effect and effect != taint.effect:
        return False
    key = _text(toleration.get("key"))
    if key and key != taint.key:
        return False
    operator = _text(toleration.get("operator")) or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return _text(toleration.get("value")) == _text(taint.value)
    return False  # an unknown operator tolerates nothing (the API server would reject it)


def untolerated(tolerations: Iterable[Any], taints: Iterable[Taint]) -> list[Taint]:
    """The taints that keep the pod off the node: NoSchedule/NoExecute taints no toleration matches."""
    tols = [t for t in tolerations if isinstance(t, Mapping)]
    return [
        taint for taint in taints if taint.effect in BLOCKING_EFFECTS and not any(tolerates(t, taint) for t in tols)
    ]


# ---------------------------------------------------------------- node selection


_INT = re.compile(r"[+-]?[0-9]+")


def _int64(text: str) -> int | None:
    """Go's strconv.ParseInt(text, 10, 64): optional sign, decimal digits, within int64."""
    if not _INT.fullmatch(text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


def match_expression(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """One NodeSelectorRequirement against node labels (k8s.io/apimachinery labels.Requirement.Matches)."""
    key = _text(expr.get("key"))
    operator = _text(expr.get("operator"))
    raw_values = expr.get("values") or []
    values = [_text(v) for v in raw_values] if isinstance(raw_values, list) else []
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt"):
        # Exactly one integer value; a label that is not an integer does not match.
        if not present or len(values) != 1:
            return False
        wanted, actual = _int64(values[0]), _int64(labels[key])
        if wanted is None or actual is None:
            return False
        return actual > wanted if operator == "Gt" else actual < wanted
    return False  # unknown operator: the selector is invalid and selects nothing


def match_term(term: Any, labels: Mapping[str, str]) -> bool:
    """A NodeSelectorTerm: all matchExpressions hold; empty terms and matchFields (node names) never match."""
    if not isinstance(term, Mapping):
        return False
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if fields:
        return False  # metadata.name of a node is not known for a pool
    if not exprs or not isinstance(exprs, list):
        return False
    return all(isinstance(e, Mapping) and match_expression(e, labels) for e in exprs)


def required_node_affinity(pod_spec: Mapping[str, Any]) -> list[Any] | None:
    """The nodeSelectorTerms of required node affinity, or None when the pod has none."""
    affinity = pod_spec.get("affinity")
    if not isinstance(affinity, Mapping):
        return None
    node_affinity = affinity.get("nodeAffinity")
    if not isinstance(node_affinity, Mapping):
        return None
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not isinstance(required, Mapping):
        return None
    terms = required.get("nodeSelectorTerms")
    return terms if isinstance(terms, list) else []


def match_node_selection(pod_spec: Mapping[str, Any], labels: Mapping[str, str]) -> str | None:
    """None when nodeSelector and required node affinity admit a node with these labels, else the reason."""
    selector = pod_spec.get("nodeSelector")
    if isinstance(selector, Mapping):
        for key, value in selector.items():
            if labels.get(key) != _text(value):
                have = labels.get(key)
                return (
                    f"nodeSelector {key}={_text(value)} does not match the node label "
                    f"({'absent' if have is None else have})"
                )
    terms = required_node_affinity(pod_spec)
    if terms is not None and not any(match_term(t, labels) for t in terms):
        return "required node affinity matches no node of the pool"
    return None


# ---------------------------------------------------------------- node labels and capacity


def node_labels(pool: Pool, catalog: Catalog, region: str | None = None) -> dict[str, str]:
    """The labels every node of the pool carries (see the module docstring for the list)."""
    labels: dict[str, str] = {
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": pool.planning_instance_type,
        "eks.amazonaws.com/nodegroup": pool.name,
        "eks.amazonaws.com/capacityType": "SPOT" if pool.spot else "ON_DEMAND",
    }
    if region:
        labels["topology.kubernetes.io/region"] = region
    instance = catalog.instance_types.get(pool.planning_instance_type)
    model = catalog.gpu_model_of_instance(pool.planning_instance_type)
    if instance is not None and model is not None and instance.gpu_count:
        sharing = pool.sharing
        product = model.product_names[0] if model.product_names else model.name
        labels.update(
            {
                "nvidia.com/gpu.present": "true",
                "feature.node.kubernetes.io/pci-10de.present": "true",
                "nvidia.com/gpu.product": product + ("-SHARED" if sharing is SharingMode.TIME_SLICING else ""),
                "nvidia.com/gpu.count": str(instance.gpu_count),
                "nvidia.com/gpu.replicas": str(pool.replicas_per_gpu),
                "nvidia.com/gpu.memory": str(model.memory_mib),
                "nvidia.com/mig.strategy": "mixed" if sharing is SharingMode.MIG else "none",
                "nvidia.com/gpu.sharing-strategy": "time-slicing" if sharing is SharingMode.TIME_SLICING else "none",
                "nvidia.com/mig.capable": "true" if model.supports_mig else "false",
            }
        )
        for operand in GPU_OPERATOR_OPERANDS:
            labels[f"nvidia.com/gpu.deploy.{operand}"] = "true"
        if model.supports_mig:
            labels["nvidia.com/gpu.deploy.mig-manager"] = "true"
    labels.update({str(k): _text(v) for k, v in pool.labels.items()})
    return labels


def node_capacity(pool: Pool, catalog: Catalog) -> dict[str, int]:
    """Allocatable cpu (millicores), memory (bytes), pods and GPU units of one empty node of the pool.

    Empty when the pool's instance type is not in the catalog (pool_rules reports that, with its line).
    """
    if pool.planning_instance_type not in catalog.instance_types:
        return {}
    capacity = dict(node_allocatable(pool, catalog))
    capacity.update(gpu_units(pool, catalog))
    return capacity


# ---------------------------------------------------------------- pod requests


@lru_cache(maxsize=4096)
def _amount(resource: str, value: Any) -> int:
    if resource == "cpu":
        return cpu_millicores(value)
    if resource == "memory" or resource == "ephemeral-storage" or resource.startswith("hugepages-"):
        return memory_bytes(value)
    return count(value)


def amount(resource: str, value: Any) -> int:
    """A quantity in the simulation's unit (millicores, bytes, count); QuantityError if malformed."""
    try:
        return _amount(resource, value)
    except TypeError:  # unhashable value (a list or mapping where a quantity belongs)
        raise QuantityError(f"not a quantity: {value!r}") from None


def container_requests(container: Mapping[str, Any]) -> dict[str, int]:
    """Effective requests of one container: requests, else limits (the API server's defaulting)."""
    resources = container.get("resources")
    if not isinstance(resources, Mapping):
        return {}
    result: dict[str, int] = {}
    limits = resources.get("limits")
    requests = resources.get("requests")
    for table in (limits, requests):  # requests second: they win over limits
        if isinstance(table, Mapping):
            for name, value in table.items():
                try:
                    result[str(name)] = amount(str(name), value)
                except QuantityError:
                    continue  # schema validation reports malformed quantities
    return result


def _add(into: dict[str, int], other: Mapping[str, int]) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0) + v


def _max(into: dict[str, int], other: Mapping[str, int]) -> None:
    for k, v in other.items():
        if v > into.get(k, 0):
            into[k] = v


def _list(value: Any) -> list[Any]:
    """A list field as the simulation reads it: anything else (schema validation reports it) is empty."""
    return value if isinstance(value, list) else []


def pod_requests(pod_spec: Mapping[str, Any]) -> dict[str, int]:
    """The pod's effective requests as the scheduler computes them (KEP-753 sidecars included), plus 1 pod.

    regular = sum(containers) + sum(sidecar init containers);
    init    = max over init containers i of (sidecars started before i, plus i itself);
    result  = max(regular, init) per resource + spec.overhead.
    """
    total: dict[str, int] = {}
    for c in _list(pod_spec.get("containers")):
        if isinstance(c, Mapping):
            _add(total, container_requests(c))
    sidecars: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    for c in _list(pod_spec.get("initContainers")):
        if not isinstance(c, Mapping):
            continue
        req = container_requests(c)
        if c.get("restartPolicy") == "Always":
            _add(sidecars, req)
            _max(init_peak, sidecars)
        else:
            running = dict(sidecars)
            _add(running, req)
            _max(init_peak, running)
    _add(total, sidecars)
    _max(total, init_peak)
    overhead = pod_spec.get("overhead")
    if isinstance(overhead, Mapping):
        for name, value in overhead.items():
            try:
                total[str(name)] = total.get(str(name), 0) + amount(str(name), value)
            except QuantityError:
                continue
    total["pods"] = 1
    return {k: v for k, v in total.items() if v or k == "pods"}


# ---------------------------------------------------------------- placement


@dataclass
class PoolView:
    """What the scheduler sees of one node of a pool: labels, taints and free capacity."""

    pool: Pool
    labels: dict[str, str]
    taints: list[Taint]
    free: dict[str, int]  # allocatable minus what the pool's DaemonSets take on every node
    capacity: dict[str, int] = field(default_factory=dict)  # allocatable of an empty node (before DaemonSets)

    @property
    def gpu_units(self) -> dict[str, int]:
        """GPU resources one node advertises (nvidia.com/gpu = physical x replicas_per_gpu, or nvidia.com/mig-*)."""
        return {r: n for r, n in self.capacity.items() if r == GPU_RESOURCE or r.startswith(MIG_RESOURCE_PREFIX)}


def _values(raw: Any) -> tuple[str, ...]:
    """The values of a requirement as match_expression reads them (a non-list is no values)."""
    raw = raw or []
    return tuple(_text(v) for v in raw) if isinstance(raw, list) else ()


def _exprs(items: Any) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    return tuple([(_text(e.get("key")), _text(e.get("operator")), _values(e.get("values"))) for e in items or ()])


def _selection_key(tolerations: Any, node_selector: Any, node_affinity: Any) -> Any:
    """A cheap, hashable stand-in for the scheduling constraints; repr() for shapes it does not expect.

    Two pods with equal keys must get the same verdict: values are keyed by the text the matchers compare
    (YAML's 1 and true are equal in Python, not as label values), and "no required node affinity" (None)
    differs from a required affinity with no terms (which matches nothing).
    """
    try:
        key = (
            tuple(
                (_text(t.get("key")), _text(t.get("operator")), _text(t.get("value")), _text(t.get("effect")))
                for t in tolerations or ()
            ),
            tuple((k, _text(v)) for k, v in node_selector.items()) if node_selector else (),
            tuple(
                (_exprs(t.get("matchExpressions")), _exprs(t.get("matchFields")))
                for t in node_affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            )
            if node_affinity and node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") is not None
            else None,
        )
        return key
    except (AttributeError, TypeError, KeyError):
        return repr((tolerations, node_selector, node_affinity))


class PoolIndex:
    """Pools prepared once (labels, capacity) so that many pod specs can be placed quickly.

    A DaemonSet is placed against an empty node (`empty_node=True`); every other pod against what the
    DaemonSets leave (`set_overhead`), as the scheduler sees a node once its DaemonSet pods run."""

    def __init__(
        self,
        pools: Iterable[Pool],
        catalog: Catalog,
        daemonset_overhead: Mapping[str, Mapping[str, int]] | None = None,
        region: str | None = None,
    ) -> None:
        self.views: list[PoolView] = []
        for pool in pools:
            capacity = node_capacity(pool, catalog)
            self.views.append(PoolView(pool, node_labels(pool, catalog, region), list(pool.taints), dict(capacity),
                                       capacity))
        self.set_overhead(daemonset_overhead or {})
        # Workloads repeat a few scheduling constraints many times: the taint and node-selection verdict of
        # each distinct (tolerations, nodeSelector, nodeAffinity) is computed once.
        self._selection: dict[str, tuple[list[PoolView], dict[str, str]]] = {}

    def set_overhead(self, daemonset_overhead: Mapping[str, Mapping[str, int]]) -> None:
        """What the DaemonSets take on every node of each pool (pool -> resource -> amount)."""
        for view in self.views:
            view.free = dict(view.capacity)
            for resource, taken in (daemonset_overhead.get(view.pool.name) or {}).items():
                if resource in view.free:
                    view.free[resource] -= taken

    def _select(self, pod_spec: Mapping[str, Any]) -> tuple[list[PoolView], dict[str, str]]:
        tolerations = pod_spec.get("tolerations")
        affinity = pod_spec.get("affinity")
        node_affinity = affinity.get("nodeAffinity") if isinstance(affinity, Mapping) else None
        key = _selection_key(tolerations, pod_spec.get("nodeSelector"), node_affinity)
        try:
            found = self._selection.get(key)
        except TypeError:  # an unhashable value somewhere (the API server would reject it): compare by text
            key = repr(key)
            found = self._selection.get(key)
        if found is not None:
            return found
        tolerations = tolerations if isinstance(tolerations, list) else []
        selectable: list[PoolView] = []
        reasons: dict[str, str] = {}
        for view in self.views:
            blocking = untolerated(tolerations, view.taints)
            if blocking:
                reasons[view.pool.name] = "does not tolerate taint " + ", ".join(
                    f"{t.key}={_text(t.value)}:{t.effect}" for t in blocking
                )
                continue
            mismatch = match_node_selection(pod_spec, view.labels)
            if mismatch:
                reasons[view.pool.name] = mismatch
                continue
            selectable.append(view)
        self._selection[key] = (selectable, reasons)
        return selectable, reasons

    def place(
        self, pod_spec: Mapping[str, Any], requests: Mapping[str, int] | None = None, *, empty_node: bool = False
    ) -> Placement:
        reqs = dict(pod_requests(pod_spec) if requests is None else requests)
        selectable, reasons = self._select(pod_spec)
        fits: list[str] = []
        short_of: dict[str, str] = {}
        for view in selectable:
            short = resource_shortfall(reqs, view.capacity if empty_node else view.free)
            if short:
                short_of[view.pool.name] = short
            else:
                fits.append(view.pool.name)
        if short_of:  # all reasons, in pool-file order as a reader expects them
            reasons = {
                v.pool.name: reasons.get(v.pool.name) or short_of[v.pool.name]
                for v in self.views
                if v.pool.name in reasons or v.pool.name in short_of
            }
        else:
            reasons = dict(reasons)
        return Placement(fits=fits, reasons=reasons, selectable=[v.pool.name for v in selectable], requests=reqs)


def resource_shortfall(requests: Mapping[str, int], free: Mapping[str, int]) -> str | None:
    """None when the requests fit the free capacity of one node, else which resource does not fit."""
    if not free:
        return "the pool's instance type is not in the catalog"
    for resource, wanted in requests.items():
        if wanted <= 0 or resource in UNCHECKED_RESOURCES:
            continue
        have = free.get(resource, 0)
        if wanted > have:
            if have <= 0:
                return f"no node of the pool offers {resource}"
            return f"{resource}: requests {_show(resource, wanted)}, a node has {_show(resource, have)} allocatable"
    return None


def _show(resource: str, value: int) -> str:
    if resource == "cpu":
        return f"{value}m"
    if resource == "memory":
        return f"{value / 2**30:.1f}Gi"
    return str(value)


def place(
    pod_spec: dict[str, Any],
    pools: Iterable[Pool],
    catalog: Catalog,
    daemonset_overhead: dict[str, dict[str, int]] | None = None,
    *,
    region: str | None = None,
) -> Placement:
    """Which pools can run this pod spec; `daemonset_overhead` is pool -> resource -> amount already taken."""
    return PoolIndex(pools, catalog, daemonset_overhead, region).place(pod_spec)
