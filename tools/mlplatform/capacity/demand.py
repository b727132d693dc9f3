"""Pod demand from rendered objects: each pod template with its replicas at minimum and at maximum scale.

Minimum demand is the quietest moment the declarations allow: Deployments and StatefulSets at their
autoscaler's minimum (or their replicas), batch work (Jobs, CronJobs, training jobs, Katib trials) not
running. Maximum demand is everything at once at its autoscaler's maximum. DaemonSets are not demand of
their own: they take their requests from every node of each pool they land on (per-node overhead).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..autoscaling import Scale, TargetKey, keda_range, replica_count, resolve_scalers, target_key
from ..model import Manifest
from ..scheduling import pod_requests
from ..shape import metadata_misfit, pod_spec_misfit
from ..workloads import PodTemplate, pod_templates

# Kinds that run pods but whose pods the rendered objects do not show (a Helm chart renders in-cluster),
# or that the planner does not model; the plan lists them so nobody reads it as complete.
NOT_MODELLED_KINDS = (
    "HelmRelease",
    "InferenceService",
    "RayCluster",
    "RayJob",
    "Rollout",
    "Notebook",
    "SparkApplication",
    "Workflow",
)
_BATCH_KINDS = ("Job", "CronJob", "PyTorchJob", "TFJob", "MPIJob", "XGBoostJob", "ScaledJob")


@dataclass(eq=False)
class PodDemand:
    manifest: Manifest
    template: PodTemplate
    requests: dict[str, int]
    min_replicas: int
    max_replicas: int
    scaled_by: str  # what sets the replica range, for the report: "replicas", "HPA ns/name", ...
    # False for a KEDA ScaledJob's job template: the planner models it, the policy rules do not read it.
    rules_read: bool = True
    # Why the policy rules cannot read the template (shape.py; schema validation reports the details),
    # else None. The planner still plans what it can read of it.
    misfit: str | None = None
    is_daemonset = False

    @property
    def name(self) -> str:
        role = f" [{self.template.role}]" if self.template.role else ""
        return f"{self.manifest.ref}{role}"


@dataclass(eq=False)
class DaemonSetDemand:
    manifest: Manifest
    template: PodTemplate
    requests: dict[str, int]
    misfit: str | None = None
    rules_read = True
    is_daemonset = True

    @property
    def name(self) -> str:
        return str(self.manifest.ref)


@dataclass
class Demand:
    pods: list[PodDemand] = field(default_factory=list)
    daemonsets: list[DaemonSetDemand] = field(default_factory=list)
    not_modelled: list[Manifest] = field(default_factory=list)
    # Both of the above in the order of the rendered objects (the order the rules report in).
    workloads: list[PodDemand | DaemonSetDemand] = field(default_factory=list)


_int = replica_count


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _job_concurrency(job_spec: dict[str, Any]) -> int:
    """Pods a Job runs at once: parallelism (default 1), never more than completions when those are set."""
    parallelism = _int(job_spec.get("parallelism"), 1)
    completions = job_spec.get("completions")
    if isinstance(completions, int) and not isinstance(completions, bool) and completions >= 0:
        return min(parallelism, completions)
    return parallelism


def _range(tpl: PodTemplate, scalers: dict[TargetKey, Scale]) -> tuple[int, int, str]:
    obj = tpl.manifest.obj
    ref = tpl.manifest.ref
    spec = _spec(obj)
    trials = tpl.parallel_trials
    if trials is not None:
        # Katib: the trial object runs parallelTrialCount times at once; replicas are per trial.
        inner = _inner_trial(obj)
        per_trial = tpl.replicas or 0
        if isinstance(inner, dict) and inner.get("kind") == "Job":
            per_trial = _job_concurrency(_spec(inner))
        return 0, per_trial * trials, f"Katib parallelTrialCount {trials}"
    if ref.kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        scale = scalers.get(target_key(ref.namespace, ref.kind, ref.name))
        if scale:
            return scale.minimum, scale.maximum, scale.source
        replicas = _int(spec.get("replicas"), 1)
        return replicas, replicas, "replicas"
    if ref.kind == "Job":
        return 0, _job_concurrency(spec), "Job parallelism"
    if ref.kind == "CronJob":
        job_spec = _spec(spec.get("jobTemplate") or {})
        # concurrencyPolicy Allow can overlap runs; the plan counts one run at a time (docs/capacity.md).
        return 0, _job_concurrency(job_spec), "CronJob parallelism"
    if ref.kind == "PyTorchJob" and tpl.role and tpl.role.lower() == "worker":
        elastic = spec.get("elasticPolicy")
        if isinstance(elastic, dict) and isinstance(elastic.get("maxReplicas"), int):
            return 0, max(elastic["maxReplicas"], tpl.replicas or 0), "PyTorchJob elasticPolicy"
    if ref.kind in _BATCH_KINDS:
        return 0, tpl.replicas or 0, f"{ref.kind} replicas"
    replicas = tpl.replicas if tpl.replicas is not None else 1
    return replicas, replicas, "replicas"


def _inner_trial(obj: dict[str, Any]) -> Any:
    node: Any = obj
    for part in ("spec", "trialTemplate", "trialSpec"):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _scaled_job_template(manifest: Manifest) -> PodTemplate | None:
    """KEDA ScaledJob: spec.jobTargetRef is a Job spec KEDA runs up to maxReplicaCount times at once."""
    job = _spec(manifest.obj).get("jobTargetRef")
    if not isinstance(job, dict) or not isinstance(job.get("template"), dict):
        return None
    tpl = job["template"]
    if not isinstance(tpl.get("spec"), dict):
        return None
    meta = tpl.get("metadata") if isinstance(tpl.get("metadata"), dict) else {}
    return PodTemplate(
        manifest, ("spec", "jobTargetRef", "template"), meta, tpl["spec"], _job_concurrency(job)
    )


def build_demand(manifests: list[Manifest], scalers: dict[TargetKey, Scale] | None = None) -> Demand:
    """Every pod template of the rendered objects, with its replica range; DaemonSets apart.

    `scalers` (autoscaling.resolve_scalers) defaults to those of `manifests`."""
    demand = Demand()
    scalers = resolve_scalers(manifests) if scalers is None else scalers
    for m in manifests:
        ref = m.ref
        if ref.kind in NOT_MODELLED_KINDS:
            demand.not_modelled.append(m)
            continue
        if ref.kind == "ScaledJob" and ref.group == "keda.sh":
            tpl = _scaled_job_template(m)
            if tpl is not None:
                minimum, maximum = keda_range(_spec(m.obj))
                per_job = tpl.replicas or 0
                pod = PodDemand(
                    m, tpl, pod_requests(tpl.pod_spec), minimum * per_job, maximum * per_job, "KEDA ScaledJob",
                    rules_read=False,
                )
                demand.pods.append(pod)
                demand.workloads.append(pod)
            continue
        meta_misfit = metadata_misfit(m.obj.get("metadata"), "metadata")
        for tpl in pod_templates(m):
            misfit = (meta_misfit or metadata_misfit(tpl.pod_metadata, "template.metadata")
                      or pod_spec_misfit(tpl.pod_spec))
            requests = pod_requests(tpl.pod_spec)
            if tpl.is_daemonset:
                ds = DaemonSetDemand(m, tpl, requests, misfit=misfit)
                demand.daemonsets.append(ds)
                demand.workloads.append(ds)
                continue
            minimum, maximum, source = _range(tpl, scalers)
            pod = PodDemand(m, tpl, requests, minimum, maximum, source, misfit=misfit)
            demand.pods.append(pod)
            demand.workloads.append(pod)
    return demand
