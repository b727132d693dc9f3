"""What every rule sees: the cluster's objects, each pod template placed against the pools, the policy data.

A rule is a module with ID, TITLE, SEVERITY, RATIONALE, FIXABLE and `check(ctx) -> Iterable[Finding]`.
Findings go through `ctx.emit()`. Exemptions are not a rule's business: suppress.py applies them to every
rule's findings in one place (the annotation `mlplatform.example.com/exempt-<name>: "<reason>"` on the object
or its pod template, <name> being the rule id after its category; an empty reason does not exempt, and
policy/exemption-reason reports it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..context import ClusterContext
from ..errors import InputError
from ..model import GPU_RESOURCE, MIG_RESOURCE_PREFIX, Finding, Manifest, Pool, Severity
from ..pointers import pointer as pointer  # the rules import it from here
from ..provenance import pointer_line
from ..scheduling import Placement, PoolIndex
from ..terraform import TerraformConfig, load_terraform
from ..workloads import PodTemplate, containers
from ._policy import Policy

TERRAFORM_PARSE_ID = "terraform/parse-error"


def is_gpu_resource(name: str) -> bool:
    return name == GPU_RESOURCE or name.startswith(MIG_RESOURCE_PREFIX)


@dataclass
class TemplateInfo:
    """One pod template with what the rules ask of it, computed once."""

    tpl: PodTemplate
    workload_type: str | None
    requests: dict[str, int]
    placement: Placement
    # Computed once here because every rule asks (ObjectRef is rebuilt on each Manifest.ref call).
    kind: str = ""
    namespace: str | None = None
    is_daemonset: bool = False
    gpu_requests: dict[str, int] = field(default_factory=dict)
    # (field, index, container) of containers then init containers; most rules walk them
    all_containers: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)

    @property
    def manifest(self) -> Manifest:
        return self.tpl.manifest

    @property
    def spec(self) -> dict[str, Any]:
        return self.tpl.pod_spec

    @property
    def uses_gpu(self) -> bool:
        return bool(self.gpu_requests)

    @property
    def where(self) -> str:
        """How a message names this template within its object (role of a training job, Katib trial)."""
        parts = []
        if self.tpl.parallel_trials is not None:
            parts.append("trial template")
        if self.tpl.role:
            parts.append(f"replica {self.tpl.role}")
        return f" ({', '.join(parts)})" if parts else ""


@dataclass
class RuleContext:
    cluster: ClusterContext
    policy: Policy
    pools: dict[str, Pool]
    index: PoolIndex
    templates: list[TemplateInfo] = field(default_factory=list)
    # manifest id -> exempted rule ids with their reasons (empty ones kept: exemption-reason reports them)
    _exemptions: dict[int, dict[str, str]] = field(default_factory=dict)
    _by_kind: dict[str, list[Manifest]] | None = None
    cache: dict[str, Any] = field(default_factory=dict)  # per-run indexes a rule builds once
    skipped: list[tuple[Manifest, str]] = field(default_factory=list)  # malformed templates, with where
    terraform_errors: list[Finding] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.cluster.cluster

    @property
    def manifests(self) -> list[Manifest]:
        return self.cluster.manifests

    def by_kind(self, kind: str) -> list[Manifest]:
        """The rendered objects of one kind (indexed once per run: rules look up PDBs, autoscalers, ...)."""
        index = self._by_kind
        if index is None:
            index = self._by_kind = {}
            for manifest in self.cluster.manifests:
                index.setdefault(manifest.ref.kind, []).append(manifest)
        return index.get(kind, [])

    @property
    def time_sliced_replicas(self) -> dict[str, int]:
        """Time-sliced pool -> replicas per GPU."""
        found = self.cache.get("time_sliced")
        if found is None:
            found = self.cache["time_sliced"] = {
                p.name: p.replicas_per_gpu for p in self.pools.values() if p.time_sliced
            }
        return found

    @property
    def terraform(self) -> TerraformConfig | None:
        """The cluster's Terraform, for the cross-layer rules (None without terraform/environments/<cluster>).

        Loaded on first use. A file that does not parse is reported once (rule terraform-parse) and the
        cross-layer rules then see None, as if there were no Terraform.
        """
        if "terraform" not in self.cache:
            try:
                self.cache["terraform"] = load_terraform(self.cluster.repo, self.name)
            except InputError as exc:
                self.cache["terraform"] = None
                self.terraform_errors.append(
                    Finding(
                        TERRAFORM_PARSE_ID, Severity.ERROR, exc.message, cluster=self.name, file=exc.file, line=exc.line
                    )
                )
        loaded = self.cache["terraform"]
        return loaded if isinstance(loaded, TerraformConfig) else None

    def gpu_pools(self) -> list[Pool]:
        return [
            p
            for p in self.pools.values()
            if self.cluster.catalog.gpu_model_of_instance(p.planning_instance_type) is not None
        ]

    def exemptions_of(self, manifest: Manifest, tpl: PodTemplate | None = None) -> dict[str, str]:
        key = id(manifest)
        found = self._exemptions.get(key)
        if found is None:
            found = _exemption_annotations(manifest.annotations)
            self._exemptions[key] = found
        if tpl is not None:
            found = {**found, **_exemption_annotations(tpl.pod_metadata.get("annotations") or {})}
        return found

    def emit(
        self,
        rule_id: str,
        severity: Severity,
        manifest: Manifest,
        message: str,
        *,
        tpl: PodTemplate | None = None,
        fix: list[dict[str, Any]] | None = None,
        fix_note: str | None = None,
        at: str | None = None,
        at_object: Manifest | None = None,
    ) -> Finding | None:
        """A finding on `manifest` (exemptions are applied later, for every rule, by suppress.py).

        `fix_note` says, in one line, why there is no `fix` (shown by `mlplatform fix`). `at`, a JSON pointer
        into the object, names the field the finding is about: its source line is the finding's line. Without
        `at`, a finding about a pod template names its pod spec (the line of the object's apiVersion told a
        reader nothing about where to look). `at_object`: the object `at` points into when the field to change
        is another object's (the PodDisruptionBudget, the autoscaler): the finding then names its file."""
        found = Finding.on(manifest, rule_id, severity, message, fix=fix, fix_note=None if fix else fix_note)
        if at is None and tpl is not None:
            at = tpl.pointer
        if at_object is not None:
            found.file = at_object.source.file
        if at is not None:
            found.line = pointer_line(at_object or manifest, at)
        return found


def _exemption_annotations(annotations: Any) -> dict[str, str]:
    from ..suppress import exemption_annotations

    return exemption_annotations(annotations)


def workload_type_of(tpl: PodTemplate, label: str) -> str | None:
    value = (tpl.pod_metadata.get("labels") or {}).get(label)
    if value is None:
        value = tpl.manifest.labels.get(label)
    return None if value is None else str(value)


def build_context(ctx: ClusterContext, policy: Policy) -> RuleContext:
    """The rules' view of the cluster model (ctx.model): its templates, requests and placements as they are."""
    model = ctx.model
    rctx = RuleContext(cluster=ctx, policy=policy, pools=dict(model.pools), index=model.index)
    label = policy.workload_type_label
    for w in model.rule_templates():
        if w.misfit:
            # Schema validation reports the exact problem; the rules cannot read this template.
            rctx.skipped.append((w.manifest, w.misfit))
            continue
        tpl, requests = w.template, w.requests
        meta = w.manifest.obj.get("metadata")
        rctx.templates.append(
            TemplateInfo(
                tpl=tpl,
                workload_type=workload_type_of(tpl, label),
                requests=requests,
                placement=model.placement(w),
                kind=tpl.kind,
                namespace=(meta.get("namespace") or None) if isinstance(meta, dict) else None,
                is_daemonset=w.is_daemonset,
                gpu_requests={k: v for k, v in requests.items() if v > 0 and is_gpu_resource(k)},
                all_containers=list(containers(tpl.pod_spec)),
            )
        )
    return rctx


def iter_containers(info: TemplateInfo, include_init: bool = True) -> list[tuple[str, int, dict[str, Any]]]:
    if include_init:
        return info.all_containers
    return [c for c in info.all_containers if c[0] == "containers"]


def resource_at(info: TemplateInfo, resource: str) -> str | None:
    """JSON pointer to the first container's limit (else request) of `resource`: the line a finding about that
    resource names. None when no container names it."""
    for fieldname, index, container in info.all_containers:
        resources = container.get("resources")
        if not isinstance(resources, dict):
            continue
        for table in ("limits", "requests"):
            values = resources.get(table)
            if isinstance(values, dict) and resource in values:
                return info.tpl.pointer + pointer(fieldname, index, "resources", table, resource)
    return None


def as_dict(value: Any) -> dict[Any, Any]:
    """`value` when it is a mapping, else an empty one (malformed input is schema validation's to report)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def get_path(obj: Any, dotted: str) -> Any:
    """A value at a dotted path of plain mappings (`a.b.c`), or None."""
    for part in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj
