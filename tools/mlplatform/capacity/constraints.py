"""The scheduler's hard constraints of each pod template, read from the rendered objects.

What kube-scheduler enforces between pods, besides resources (the filter plugins named in brackets):
- required pod affinity and anti-affinity [InterPodAffinity]: a term's labelSelector over the pods of its
  namespaces (`namespaces`, `namespaceSelector`; neither: the pod's own namespace; `namespaceSelector: {}`:
  all), co-located meaning "same value of topologyKey"; an existing pod's anti-affinity also repels the
  incoming pod (symmetry); a null labelSelector matches no pod;
- topology spread constraints with `whenUnsatisfiable: DoNotSchedule` [PodTopologySpread]; ScheduleAnyway
  is a preference and not a constraint; only pods of the pod's own namespace count;
- host ports [NodePorts]: containers' ports with hostPort > 0 (with hostNetwork the API defaults hostPort
  to containerPort); two pods conflict on a node when protocol and port are equal and the host IPs are equal
  or either is 0.0.0.0 (the default);
- priority [for preemption]: the value of the pod's PriorityClass, or of the globalDefault class.

Labels of a pod are its template's labels (controllers add pod-template-hash, which only `matchLabelKeys`
can name: it then selects the pods of the same template, i.e. the workload's own pods).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model import Manifest
from ..scheduling import match_expression
from ..workloads import PodTemplate

HOSTNAME = "kubernetes.io/hostname"
# Node labels naming the zone: the well-known key, its deprecated beta form, and the EKS zone id.
ZONE_KEYS = frozenset({"topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone",
                       "topology.k8s.aws/zone-id"})
TEMPLATE_HASH = "pod-template-hash"
CRITICAL_LABEL = "mlplatform.example.com/critical"
# Built-in PriorityClasses (kubernetes/pkg/apis/scheduling: SystemCriticalPriority = 2e9; node-critical +1000).
SYSTEM_PRIORITIES = {"system-cluster-critical": 2_000_000_000, "system-node-critical": 2_000_001_000}
PROTOCOL_DEFAULT = "TCP"


def _str_labels(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        return {}
    out = {}
    for k, v in raw.items():
        out[str(k)] = "true" if v is True else "false" if v is False else "" if v is None else str(v)
    return out


@dataclass(frozen=True)
class Selector:
    """A LabelSelector read once: selectors are matched against every workload of the cluster."""

    valid: bool  # False: null or malformed, matches nothing
    labels: tuple[tuple[str, str], ...] = ()
    expressions: tuple[Any, ...] = ()

    @classmethod
    def of(cls, raw: Any) -> Selector:
        if not isinstance(raw, Mapping):
            return cls(False)
        exprs = raw.get("matchExpressions") or []
        if not isinstance(exprs, list) or not all(isinstance(e, Mapping) for e in exprs):
            return cls(False)
        return cls(True, tuple(_str_labels(raw.get("matchLabels")).items()), tuple(exprs))

    def matches(self, labels: Mapping[str, str]) -> bool:
        if not self.valid:
            return False
        if any(labels.get(k) != v for k, v in self.labels):
            return False
        return all(match_expression(e, labels) for e in self.expressions)


@dataclass(frozen=True)
class HostPort:
    port: int
    protocol: str
    ip: str

    def conflicts(self, other: HostPort) -> bool:
        if self.port != other.port or self.protocol != other.protocol:
            return False
        wild = ("", "0.0.0.0")
        return self.ip in wild or other.ip in wild or self.ip == other.ip

    def __str__(self) -> str:
        where = f"{self.ip}:" if self.ip not in ("", "0.0.0.0") else ""
        return f"hostPort {where}{self.port}/{self.protocol}"


def host_ports(pod_spec: Mapping[str, Any]) -> list[HostPort]:
    """The host ports the NodePorts filter sees: regular containers only."""
    host_network = pod_spec.get("hostNetwork") is True
    out: list[HostPort] = []
    containers = pod_spec.get("containers")
    for c in containers if isinstance(containers, list) else []:
        if not isinstance(c, Mapping):
            continue
        ports = c.get("ports")
        for port in ports if isinstance(ports, list) else []:
            if not isinstance(port, Mapping):
                continue
            number = port.get("hostPort")
            if number is None and host_network:
                number = port.get("containerPort")
            if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
                continue
            protocol = str(port.get("protocol") or PROTOCOL_DEFAULT)
            out.append(HostPort(number, protocol, str(port.get("hostIP") or "")))
    return out


@dataclass(frozen=True)
class Term:
    """One required pod (anti-)affinity term of a workload."""

    field: str  # podAffinity | podAntiAffinity
    index: int
    topology_key: str
    selector: Selector
    namespaces: tuple[str, ...]
    namespace_selector: Selector | None
    match_label_keys: tuple[str, ...]
    mismatch_label_keys: tuple[str, ...]

    def describe(self) -> str:
        return f"required {self.field}[{self.index}] on {self.topology_key}"


@dataclass(frozen=True)
class Spread:
    """One topology spread constraint with whenUnsatisfiable: DoNotSchedule."""

    index: int
    max_skew: int
    topology_key: str
    min_domains: int
    selector: Selector
    node_affinity_policy: str
    node_taints_policy: str

    def describe(self) -> str:
        extra = f", minDomains {self.min_domains}" if self.min_domains > 1 else ""
        return (f"topologySpreadConstraints[{self.index}] ({self.topology_key}, DoNotSchedule, "
                f"maxSkew {self.max_skew}{extra})")


@dataclass
class PodConstraints:
    """What the scheduler enforces for one pod template besides taints, node selection and resources."""

    namespace: str
    labels: dict[str, str]
    affinity: list[Term] = field(default_factory=list)
    anti_affinity: list[Term] = field(default_factory=list)
    spreads: list[Spread] = field(default_factory=list)
    host_ports: list[HostPort] = field(default_factory=list)
    priority_class: str | None = None
    priority: int = 0
    critical: bool = False
    notes: list[str] = field(default_factory=list)  # what is read but not enforced (ScheduleAnyway, ...)

    @property
    def constrained(self) -> bool:
        return bool(self.affinity or self.anti_affinity or self.spreads or self.host_ports)


def _int(value: Any, default: int, minimum: int = 1) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    return default


def _keys(raw: Any) -> tuple[str, ...]:
    return tuple(k for k in raw if isinstance(k, str)) if isinstance(raw, list) else ()


def _terms(affinity: Any, field_name: str) -> list[Term]:
    block = affinity.get(field_name) if isinstance(affinity, Mapping) else None
    required = block.get("requiredDuringSchedulingIgnoredDuringExecution") if isinstance(block, Mapping) else None
    out = []
    for index, term in enumerate(required if isinstance(required, list) else []):
        if not isinstance(term, Mapping):
            continue
        names = term.get("namespaces")
        out.append(
            Term(
                field=field_name,
                index=index,
                topology_key=str(term.get("topologyKey") or ""),
                selector=Selector.of(term.get("labelSelector")),
                namespaces=tuple(str(n) for n in names) if isinstance(names, list) else (),
                namespace_selector=(
                    None if term.get("namespaceSelector") is None else Selector.of(term.get("namespaceSelector"))
                ),
                match_label_keys=_keys(term.get("matchLabelKeys")),
                mismatch_label_keys=_keys(term.get("mismatchLabelKeys")),
            )
        )
    return out


@dataclass(frozen=True)
class PriorityClasses:
    values: dict[str, int]
    critical: frozenset[str]
    default: int = 0

    @classmethod
    def of(cls, manifests: Iterable[Manifest]) -> PriorityClasses:
        values = dict(SYSTEM_PRIORITIES)
        critical = set(SYSTEM_PRIORITIES)
        default = 0
        for m in manifests:
            # The raw kind first: a plan asks this of every rendered object, and a Manifest's first ref builds
            # one. Only a "PriorityClass" string gives ref.kind "PriorityClass" (ref.kind is str() of the
            # value, and no other YAML scalar or collection prints so), so nothing else is skipped.
            if m.obj.get("kind") != "PriorityClass":
                continue
            ref = m.ref
            if ref.kind != "PriorityClass" or ref.group != "scheduling.k8s.io":
                continue
            value = m.obj.get("value")
            if not isinstance(value, int) or isinstance(value, bool):
                continue
            values[ref.name] = value
            if _str_labels(m.labels).get(CRITICAL_LABEL) == "true":
                critical.add(ref.name)
            if m.obj.get("globalDefault") is True:
                default = value
        return cls(values, frozenset(critical), default)


def pod_constraints(tpl: PodTemplate, priorities: PriorityClasses) -> PodConstraints:
    spec = tpl.pod_spec
    meta = tpl.pod_metadata if isinstance(tpl.pod_metadata, Mapping) else {}
    labels = _str_labels(meta.get("labels"))
    pc = PodConstraints(namespace=tpl.manifest.ref.namespace or "default", labels=labels)
    affinity = spec.get("affinity")
    pc.affinity = _terms(affinity, "podAffinity")
    pc.anti_affinity = _terms(affinity, "podAntiAffinity")
    spreads = spec.get("topologySpreadConstraints")
    for index, raw in enumerate(spreads if isinstance(spreads, list) else []):
        if not isinstance(raw, Mapping):
            continue
        if raw.get("whenUnsatisfiable") == "ScheduleAnyway":
            pc.notes.append(f"topologySpreadConstraints[{index}] is ScheduleAnyway: a preference, not modelled")
            continue
        pc.spreads.append(
            Spread(
                index=index,
                max_skew=_int(raw.get("maxSkew"), 1),
                topology_key=str(raw.get("topologyKey") or ""),
                min_domains=_int(raw.get("minDomains"), 1),
                selector=Selector.of(raw.get("labelSelector")),
                node_affinity_policy=str(raw.get("nodeAffinityPolicy") or "Honor"),
                node_taints_policy=str(raw.get("nodeTaintsPolicy") or "Ignore"),
            )
        )
    pc.host_ports = host_ports(spec)
    name = spec.get("priorityClassName")
    if isinstance(name, str) and name:
        pc.priority_class = name
        pc.priority = priorities.values.get(name, 0)
    else:
        pc.priority = priorities.default
    pc.critical = labels.get(CRITICAL_LABEL) == "true" or (pc.priority_class in priorities.critical)
    return pc


# ---------------------------------------------------------------- which pods a term or spread selects


def namespace_selected(term: Term, owner_ns: str, target_ns: str, ns_labels: Mapping[str, Mapping[str, str]]) -> bool:
    if not term.namespaces and term.namespace_selector is None:
        return target_ns == owner_ns
    if target_ns in term.namespaces:
        return True
    if term.namespace_selector is not None:
        labels = dict(ns_labels.get(target_ns) or {})
        labels.setdefault("kubernetes.io/metadata.name", target_ns)  # set by the API server on every namespace
        return term.namespace_selector.matches(labels)
    return False


def term_selects(
    term: Term, owner: PodConstraints, target: PodConstraints, same_workload: bool,
    ns_labels: Mapping[str, Mapping[str, str]],
) -> bool:
    """Whether the term of `owner` selects the pods of `target` (which may be the owner's own pods)."""
    if not namespace_selected(term, owner.namespace, target.namespace, ns_labels):
        return False
    if not term.selector.matches(target.labels):
        return False
    for key in term.match_label_keys:
        if key == TEMPLATE_HASH:
            if not same_workload:
                return False
        elif key in owner.labels and target.labels.get(key) != owner.labels[key]:
            return False
    for key in term.mismatch_label_keys:
        if key == TEMPLATE_HASH:
            if same_workload:
                return False
        elif key in owner.labels and target.labels.get(key) == owner.labels[key]:
            return False
    return True


def spread_counts_own(spread: Spread, owner: PodConstraints) -> bool:
    """Whether a spread's selector counts the workload's own pods (else it does not restrict them)."""
    return spread.selector.matches(owner.labels)


def topology_level(key: str, pool_labels: Mapping[str, str]) -> str:
    """host, zone, pool (a label every node of the pool has with one value) or missing."""
    if key == HOSTNAME:
        return "host"
    if key in ZONE_KEYS:
        return "zone"
    if key in pool_labels:
        return "pool"
    return "missing"
