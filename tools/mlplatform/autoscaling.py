"""Which autoscaler owns a workload's replica count, and the range it allows: the one resolver the rules
(ha-replicas) and the capacity plan read.

Defaults are the controllers' own, for fields left out:
- HorizontalPodAutoscaler autoscaling/v2: minReplicas "defaults to 1 pod"; maxReplicas is required
  (Kubernetes API reference, HorizontalPodAutoscalerSpec; kubernetes-client/python
  kubernetes/docs/V1HorizontalPodAutoscalerSpec.md carries the same field text).
- KEDA ScaledObject / ScaledJob: minReplicaCount defaults to 0, maxReplicaCount to 100
  (kedacore/keda-docs content/docs/2.18/reference/scaledobject-spec.md, the newest stored docs; the
  repository pins the KEDA chart 2.20.2 in infrastructure/controllers/base/keda/helmrelease.yaml).
A ScaledObject wins over a plain HPA on the same target: KEDA creates and owns the HPA it needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .model import Manifest

HPA_MIN_DEFAULT = 1
KEDA_MIN_DEFAULT = 0
KEDA_MAX_DEFAULT = 100
INT32_MAX = 2**31 - 1  # replica counts are int32 in the Kubernetes API; the API server rejects larger values

# (namespace or "default", target kind, target name)
TargetKey = tuple[str, str, str]


@dataclass(frozen=True)
class Scale:
    minimum: int
    maximum: int
    source: str  # for reports: "HPA ns/name", "KEDA ScaledObject ns/name"
    scaler: Manifest


def replica_count(value: Any, default: int) -> int:
    """A replica field as the API server reads it: a non-negative int32, else the default."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return default
    return min(value, INT32_MAX)


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def target_key(namespace: str | None, kind: str, name: str) -> TargetKey:
    return (namespace or "default", kind, name)


def _target(namespace: str | None, ref: Any) -> TargetKey | None:
    if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
        return None
    # KEDA's scaleTargetRef defaults to a Deployment; an HPA must name its kind (the schema says so).
    return target_key(namespace, str(ref.get("kind") or "Deployment"), ref["name"])


def keda_range(spec: dict[str, Any]) -> tuple[int, int]:
    """(minimum, maximum) of a ScaledObject or ScaledJob spec."""
    maximum = replica_count(spec.get("maxReplicaCount"), KEDA_MAX_DEFAULT)
    return min(replica_count(spec.get("minReplicaCount"), KEDA_MIN_DEFAULT), maximum), maximum


def resolve_scalers(manifests: Iterable[Manifest]) -> dict[TargetKey, Scale]:
    """Scale target -> the replica range the autoscaler that owns it sets."""
    found: dict[TargetKey, Scale] = {}
    for m in manifests:
        ref = m.ref
        spec = _spec(m.obj)
        if ref.kind == "HorizontalPodAutoscaler" and ref.group == "autoscaling":
            key = _target(ref.namespace, spec.get("scaleTargetRef"))
            if key:
                maximum = replica_count(spec.get("maxReplicas"), 0)
                minimum = min(replica_count(spec.get("minReplicas"), HPA_MIN_DEFAULT), maximum)
                found.setdefault(key, Scale(minimum, maximum, f"HPA {ref.namespace or 'default'}/{ref.name}", m))
        elif ref.kind == "ScaledObject" and ref.group == "keda.sh":
            key = _target(ref.namespace, spec.get("scaleTargetRef"))
            if key:
                minimum, maximum = keda_range(spec)
                found[key] = Scale(minimum, maximum, f"KEDA ScaledObject {ref.namespace or 'default'}/{ref.name}", m)
    return found
