"""Typed records shared by every module: object references, manifests with provenance, pools, findings."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


_MAX_REFS = 200_000


@dataclass(frozen=True, order=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str | None
    name: str

    @classmethod
    def of(cls, obj: dict[str, Any]) -> ObjectRef:
        meta = obj.get("metadata") or {}
        if not isinstance(meta, dict):
            meta = {}
        raw = (obj.get("apiVersion"), obj.get("kind"), meta.get("namespace"), meta.get("name"))
        # Asked for about ten times per object in a check (Manifest.ref): the same strings give the same
        # (immutable) ref, so one is kept per distinct tuple instead of building a frozen dataclass each time.
        # Only tuples of strings (and None) are kept: 1, 1.0 and True are equal keys but not equal names. A
        # tuple holding a number can never equal a kept one, so the lookup needs no type test first.
        try:
            known = _REFS.get(raw)
        except TypeError:  # a list or mapping where a name belongs (the schema step reports it)
            known = None
        if known is not None:
            return known
        cacheable = all(value is None or type(value) is str for value in raw)
        made = cls(
            api_version=str(raw[0] or ""),
            kind=str(raw[1] or ""),
            namespace=raw[2] or None,
            name=str(raw[3] or ""),
        )
        if cacheable:
            if len(_REFS) >= _MAX_REFS:
                _REFS.clear()  # a long-lived process (tests, an editor's server) stays bounded
            _REFS[raw] = made
        return made

    @property
    def group(self) -> str:
        return self.api_version.split("/", 1)[0] if "/" in self.api_version else ""

    @property
    def version(self) -> str:
        return self.api_version.rsplit("/", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        return {"apiVersion": self.api_version, "kind": self.kind, "namespace": self.namespace, "name": self.name}

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name}"


_REFS: dict[tuple[Any, Any, Any, Any], ObjectRef] = {}


@dataclass(frozen=True)
class Provenance:
    """Where a person edits an object: a repository-relative POSIX path and a 1-based line."""

    file: str
    line: int
    flux_kustomization: str | None = None


@dataclass
class Manifest:
    """One rendered object, as Flux would apply it, traced back to its source."""

    cluster: str
    obj: dict[str, Any]
    source: Provenance
    # Made on first use and kept: rules, the model and the planner each walk every object asking for its
    # ref (about ten times per object, 0.25 s on a 10k-object fleet). Rendering is over when a Manifest is
    # made: apiVersion, kind, namespace and name are not edited in place after that (edit a deep copy).
    _ref: ObjectRef | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def ref(self) -> ObjectRef:
        ref = self._ref
        if ref is None:
            ref = self._ref = ObjectRef.of(self.obj)
        return ref

    def __deepcopy__(self, memo: dict[int, Any]) -> Manifest:
        # a copy is made to be edited (tests rename one): it makes its ref again from its own object
        return Manifest(self.cluster, copy.deepcopy(self.obj, memo), copy.deepcopy(self.source, memo))

    @property
    def annotations(self) -> dict[str, str]:
        meta = self.obj.get("metadata") or {}
        return (meta.get("annotations") or {}) if isinstance(meta, dict) else {}

    @property
    def labels(self) -> dict[str, str]:
        meta = self.obj.get("metadata") or {}
        return (meta.get("labels") or {}) if isinstance(meta, dict) else {}


@dataclass(frozen=True)
class Suppression:
    """Why a finding is reported as suppressed (suppress.py): SARIF's suppression kind and justification."""

    kind: str  # "inSource": an annotation on the object; "external": an entry in .mlplatform.yaml
    justification: str
    where: str = ""  # the annotation or the config entry that suppressed it

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "justification": self.justification, "where": self.where}


@dataclass(frozen=True)
class Cause:
    """The mistake a finding only follows from, reported by another finding: an error of one of `rules` (a
    rule id, or a category prefix such as "yaml/") at `file` (and on `object`, when given).
    consolidate.fold_into_causes folds the finding into that error, so one mistake is one finding; the finding
    stays when nothing reports its cause."""

    file: str
    rules: tuple[str, ...]
    object: ObjectRef | None = None
    line: int | None = None  # when given, the cause is the finding at that line (one pool of a pool file)

    def reported_by(self, f: Finding) -> bool:
        # an exempted cause is shown as suppressed, not counted: what follows from it must stay visible
        return (
            f.severity is Severity.ERROR
            and f.suppression is None
            and f.file == self.file
            and (self.object is None or f.object == self.object)
            and (self.line is None or f.line == self.line)
            and any(f.rule == r or (r.endswith("/") and f.rule.startswith(r)) for r in self.rules)
        )


def schema_cause(manifest: Manifest) -> Cause:
    """The cause of a finding made from an object that fails its schema: schema/invalid on that object says
    which field, at its line (a pod template of the wrong shape that the rules skip or the fit misreads)."""
    return Cause(manifest.source.file, ("schema/invalid",), manifest.ref)


@dataclass
class Finding:
    rule: str
    severity: Severity
    message: str
    cluster: str | None = None
    file: str | None = None
    line: int | None = None
    object: ObjectRef | None = None
    # A JSON Patch (RFC 6902) against the source document that would fix this finding, if one exists.
    fix: list[dict[str, Any]] | None = None
    # Every cluster where this same finding (rule, file, line, message) was made, when more than one;
    # `cluster` is then the first of them (consolidate.merge_clusters).
    clusters: tuple[str, ...] = ()
    # Why there is no `fix` (one line a person can act on), when the rule could say more than its rationale.
    fix_note: str | None = None
    # Set when an exemption applies (suppress.py): the finding stays visible as suppressed, with its reason.
    suppression: Suppression | None = None
    # Set when this finding only follows from a mistake another finding reports (consolidate.py folds it).
    follows: Cause | None = None

    @property
    def all_clusters(self) -> tuple[str, ...]:
        if self.clusters:
            return self.clusters
        return (self.cluster,) if self.cluster else ()

    @classmethod
    def on(cls, manifest: Manifest, rule: str, severity: Severity, message: str, **kw: Any) -> Finding:
        """A finding about a rendered object, pointing at the source a person edits."""
        return cls(
            rule=rule,
            severity=severity,
            message=message,
            cluster=manifest.cluster,
            file=manifest.source.file,
            line=manifest.source.line,
            object=manifest.ref,
            **kw,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "cluster": self.cluster,
            "clusters": list(self.all_clusters),
            "file": self.file,
            "line": self.line,
            "object": self.object.to_json() if self.object else None,
        }

    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.file or "", self.line or 0, self.rule, self.message)


# ---- node pools (the pool file contract, docs/pools.md) ----

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

# Resource and label names of the NVIDIA device plugin and GPU Operator, defined here once: the pool rules,
# the generator, the scheduler simulation and the capacity plan must agree on them (docs/pools.md).
GPU_RESOURCE = "nvidia.com/gpu"
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"  # mixed strategy: one resource per profile, nvidia.com/mig-1g.10gb
DEVICE_PLUGIN_LABEL = "nvidia.com/device-plugin.config"  # selects the device plugin's per-node config
MIG_CONFIG_LABEL = "nvidia.com/mig.config"  # selects the MIG layout mig-manager applies


class SharingMode(StrEnum):
    """How a GPU pool shares its GPUs (the pool file's gpu.sharing). A StrEnum: it compares equal to the
    pool file's text and serialises as it, so JSON outputs keep their strings."""

    NONE = "none"
    TIME_SLICING = "time-slicing"
    MIG = "mig"


class CapacityType(StrEnum):
    """The pool file's capacity_type: what EKS managed node groups accept (capacityType ON_DEMAND | SPOT)."""

    ON_DEMAND = "on-demand"
    SPOT = "spot"


SHARING_MODES = tuple(m.value for m in SharingMode)
CAPACITY_TYPES = tuple(c.value for c in CapacityType)


@dataclass(frozen=True)
class Taint:
    key: str
    value: str | None
    effect: str


@dataclass
class GpuSharing:
    sharing: str  # as written; `mode` is the typed value (pool_rules reports a value that is no mode)
    replicas: int | None = None  # time-slicing: replicas per physical GPU
    mig_layout: dict[str, int] | None = None  # mig: instances per GPU, profile -> count

    @property
    def mode(self) -> SharingMode | None:
        """The sharing mode, or None when the text names none (reported by pool_rules with its line)."""
        try:
            return SharingMode(self.sharing)
        except ValueError:
            return None


@dataclass
class Pool:
    name: str
    instance_types: list[str]
    capacity_type: str
    min_size: int
    max_size: int
    desired_size: int
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[Taint] = field(default_factory=list)
    gpu: GpuSharing | None = None
    file: str = ""
    line: int = 0
    # Line of each field inside the pool's mapping, so errors can point at the exact key.
    field_lines: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def planning_instance_type(self) -> str:
        return self.instance_types[0]

    @property
    def sharing(self) -> SharingMode | None:
        """NONE for a pool without a gpu section or with `sharing: none`; None for a value that is no mode."""
        return self.gpu.mode if self.gpu else SharingMode.NONE

    @property
    def time_sliced(self) -> bool:
        return self.sharing is SharingMode.TIME_SLICING

    @property
    def mig(self) -> bool:
        return self.sharing is SharingMode.MIG

    @property
    def replicas_per_gpu(self) -> int:
        """Pods one physical GPU takes: the time-slicing replicas (a missing or zero count is 1), else 1.

        The one place this is computed: node labels, GPU units, rules and pictures read it."""
        if self.time_sliced and self.gpu is not None and self.gpu.replicas:
            return self.gpu.replicas
        return 1

    @property
    def mig_layout(self) -> dict[str, int]:
        """MIG instances per GPU (profile -> count) on a MIG pool; empty on any other pool."""
        return dict(self.gpu.mig_layout or {}) if self.mig and self.gpu is not None else {}

    @property
    def spot(self) -> bool:
        return self.capacity_type == CapacityType.SPOT

    @property
    def is_gpu(self) -> bool:
        return self.gpu is not None

    @property
    def efa(self) -> bool:
        """`efa: true`: EFA interfaces, a cluster placement group and the EFA device plugin (docs/pools.md)."""
        return self.extra.get("efa") is True

    def line_of(self, key: str) -> int:
        return self.field_lines.get(key, self.line)


@dataclass
class PoolFile:
    cluster: str
    region: str
    pools: dict[str, Pool]
    file: str
    line_of_cluster: int = 1
    # The cluster's Kubernetes minor version ("1.34"): EKS reads it in Terraform, schema validation defaults to it.
    kubernetes_version: str | None = None
