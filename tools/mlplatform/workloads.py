"""Find every pod template inside a rendered object, with its JSON path and declared replica count."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .model import Manifest
from .pointers import pointer as json_pointer
from .yamlio import mapping

# Kinds whose pod template sits at a fixed path, and where their replica count is declared.
_FIXED_PATHS: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {
    "Deployment": (("spec", "template"), ("spec", "replicas")),
    "StatefulSet": (("spec", "template"), ("spec", "replicas")),
    "ReplicaSet": (("spec", "template"), ("spec", "replicas")),
    "DaemonSet": (("spec", "template"), None),
    "Job": (("spec", "template"), ("spec", "parallelism")),
    "CronJob": (("spec", "jobTemplate", "spec", "template"), ("spec", "jobTemplate", "spec", "parallelism")),
}
# Kubeflow training jobs: spec.<field>.<Role>.{replicas, template}
_REPLICA_SPECS = {
    "PyTorchJob": "pytorchReplicaSpecs",
    "TFJob": "tfReplicaSpecs",
    "MPIJob": "mpiReplicaSpecs",
    "XGBoostJob": "xgbReplicaSpecs",
}
# Defaults Kubernetes applies when the replica field is absent.
_DEFAULT_REPLICAS = {"Deployment": 1, "StatefulSet": 1, "ReplicaSet": 1, "Job": 1, "CronJob": 1}


@dataclass
class PodTemplate:
    manifest: Manifest
    # Path from the object root to the PodTemplateSpec (the mapping with metadata and spec).
    path: tuple[str | int, ...]
    pod_metadata: dict[str, Any]
    pod_spec: dict[str, Any]
    replicas: int | None  # declared replicas of this template; None for DaemonSets (one per node)
    role: str | None = None  # replica role of a training job (Master, Worker, PS, Chief...)
    # For templates nested inside a Katib Experiment: how many trials run at once.
    parallel_trials: int | None = None

    @property
    def kind(self) -> str:
        return self.manifest.ref.kind

    @property
    def is_daemonset(self) -> bool:
        return self.kind == "DaemonSet" and self.role is None

    @property
    def labels(self) -> dict[str, str]:
        merged = dict(self.manifest.labels)
        merged.update(self.pod_metadata.get("labels") or {})
        return merged

    @property
    def annotations(self) -> dict[str, str]:
        merged = dict(self.manifest.annotations)
        merged.update(self.pod_metadata.get("annotations") or {})
        return merged

    @property
    def pointer(self) -> str:
        """RFC 6901 JSON pointer to the pod spec, for JSON Patch fixes and findings' lines."""
        return json_pointer(*self.path, "spec")

    @property
    def metadata_pointer(self) -> str:
        """JSON pointer to the pod template's metadata (its labels are what selectors match)."""
        return json_pointer(*self.path, "metadata")


def _get(obj: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and isinstance(part, int) and 0 <= part < len(obj):
            obj = obj[part]
        else:
            return None
    return obj


_INT32_MAX = 2**31 - 1  # replica fields are int32 in the Kubernetes API


def _int_or(value: Any, default: int | None) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return default
    return max(0, min(value, _INT32_MAX))


def _template(
    manifest: Manifest, obj: dict[str, Any], path: tuple[str | int, ...], replicas: int | None, **kw: Any
) -> PodTemplate | None:
    tpl = _get(obj, path)
    if not isinstance(tpl, dict) or not isinstance(tpl.get("spec"), dict):
        return None
    meta = mapping(tpl.get("metadata"))
    return PodTemplate(manifest, path, meta, tpl["spec"], replicas, **kw)


def _templates_in(
    manifest: Manifest, obj: dict[str, Any], prefix: tuple[str | int, ...], trials: int | None
) -> Iterator[PodTemplate]:
    kind = obj.get("kind")
    if kind in _FIXED_PATHS:
        tpl_path, replica_path = _FIXED_PATHS[kind]
        replicas = None if replica_path is None else _int_or(_get(obj, replica_path), _DEFAULT_REPLICAS[kind])
        found = _template(manifest, obj, tpl_path, replicas, parallel_trials=trials)
        if found:
            found.path = prefix + tpl_path
            yield found
    elif kind == "Pod":
        spec = obj.get("spec")
        if isinstance(spec, dict):
            meta = mapping(obj.get("metadata"))
            yield PodTemplate(manifest, prefix, meta, spec, 1, parallel_trials=trials)
    elif kind in _REPLICA_SPECS:
        specs = _get(obj, ("spec", _REPLICA_SPECS[kind]))
        if isinstance(specs, dict):
            for role, rspec in specs.items():
                if not isinstance(rspec, dict):
                    continue
                replicas = _int_or(rspec.get("replicas"), 1)
                path = ("spec", _REPLICA_SPECS[kind], role, "template")
                found = _template(manifest, obj, path, replicas, role=role, parallel_trials=trials)
                if found:
                    found.path = prefix + path
                    yield found
    elif kind == "Experiment":
        # Katib: the trial template is a whole object (Job, PyTorchJob, ...) run parallelTrialCount at once.
        trial = _get(obj, ("spec", "trialTemplate", "trialSpec"))
        if isinstance(trial, dict):
            parallel = _int_or(_get(obj, ("spec", "parallelTrialCount")), 3)
            yield from _templates_in(manifest, trial, prefix + ("spec", "trialTemplate", "trialSpec"), parallel)


def pod_templates(manifest: Manifest) -> list[PodTemplate]:
    """Every pod template in a rendered object (none for kinds that run no pods)."""
    obj = manifest.obj
    if not isinstance(obj, dict):
        return []
    return list(_templates_in(manifest, obj, (), None))


def containers(pod_spec: dict[str, Any], include_init: bool = True) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(field, index, container) for containers and, optionally, init containers."""
    fields = ("containers", "initContainers") if include_init else ("containers",)
    for fieldname in fields:
        items = pod_spec.get(fieldname) or []
        if isinstance(items, list):
            for i, c in enumerate(items):
                if isinstance(c, dict):
                    yield fieldname, i, c
