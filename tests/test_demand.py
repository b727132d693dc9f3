"""Demand at minimum and maximum scale for each workload kind the planner reads."""

from __future__ import annotations

from typing import Any

import pytest

from mlplatform.capacity.demand import build_demand
from mlplatform.model import Manifest, Provenance


def manifest(obj: dict[str, Any]) -> Manifest:
    return Manifest("test", obj, Provenance("apps/test.yaml", 1))


def pod(gpu: int = 1, cpu: str = "2") -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "x"}},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "i",
                    "resources": {
                        "requests": {"cpu": cpu, "memory": "4Gi"},
                        "limits": {"nvidia.com/gpu": gpu},
                    },
                }
            ]
        },
    }


def deployment(name: str, replicas: int | None = None, kind: str = "Deployment") -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "x"}}, "template": pod()}
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "ml"},
        "spec": spec,
    }


def ranges(objs: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    demand = build_demand([manifest(o) for o in objs])
    return {d.name: (d.min_replicas, d.max_replicas) for d in demand.pods}


def test_deployment_replicas_and_default() -> None:
    got = ranges([deployment("a", 3), deployment("b")])
    assert got == {"Deployment ml/a": (3, 3), "Deployment ml/b": (1, 1)}


def test_statefulset_with_hpa() -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h", "namespace": "ml"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db"},
            "minReplicas": 2,
            "maxReplicas": 7,
        },
    }
    assert ranges([deployment("db", 3, kind="StatefulSet"), hpa]) == {"StatefulSet ml/db": (2, 7)}


def test_hpa_min_defaults_to_one() -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h", "namespace": "ml"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5},
    }
    assert ranges([deployment("web", 3), hpa]) == {"Deployment ml/web": (1, 5)}


def test_hpa_in_another_namespace_does_not_apply() -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h", "namespace": "x"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 5},
    }
    assert ranges([deployment("web", 3), hpa]) == {"Deployment ml/web": (3, 3)}


def test_keda_scaled_object_defaults_and_explicit() -> None:
    so_default = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "s1", "namespace": "ml"},
        "spec": {"scaleTargetRef": {"name": "a"}, "triggers": []},
    }
    so_explicit = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "s2", "namespace": "ml"},
        "spec": {"scaleTargetRef": {"name": "b"}, "minReplicaCount": 1, "maxReplicaCount": 6},
    }
    got = ranges([deployment("a", 2), deployment("b", 2), so_default, so_explicit])
    assert got == {"Deployment ml/a": (0, 100), "Deployment ml/b": (1, 6)}


def test_keda_wins_over_plain_hpa() -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h", "namespace": "ml"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a"}, "minReplicas": 3, "maxReplicas": 4},
    }
    so = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "s", "namespace": "ml"},
        "spec": {"scaleTargetRef": {"name": "a"}, "minReplicaCount": 1, "maxReplicaCount": 9},
    }
    assert ranges([hpa, deployment("a", 2), so]) == {"Deployment ml/a": (1, 9)}


@pytest.mark.parametrize(
    ("job_spec", "expected"),
    [
        ({}, (0, 1)),
        ({"parallelism": 4}, (0, 4)),
        ({"parallelism": 4, "completions": 2}, (0, 2)),
        ({"parallelism": 3, "completions": 10}, (0, 3)),
    ],
)
def test_job_parallelism_and_completions(job_spec: dict[str, Any], expected: tuple[int, int]) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j", "namespace": "ml"},
        "spec": {**job_spec, "template": {**pod(), "spec": {**pod()["spec"], "restartPolicy": "Never"}}},
    }
    assert ranges([job]) == {"Job ml/j": expected}


def test_cronjob() -> None:
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c", "namespace": "ml"},
        "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"parallelism": 2, "template": pod()}}},
    }
    assert ranges([cron]) == {"CronJob ml/c": (0, 2)}


def test_pytorchjob_roles_and_elastic_policy() -> None:
    job = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "p", "namespace": "ml"},
        "spec": {
            "elasticPolicy": {"minReplicas": 2, "maxReplicas": 6},
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": pod()},
                "Worker": {"replicas": 3, "template": pod()},
            },
        },
    }
    assert ranges([job]) == {"PyTorchJob ml/p [Master]": (0, 1), "PyTorchJob ml/p [Worker]": (0, 6)}


def test_tfjob_roles() -> None:
    job = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "TFJob",
        "metadata": {"name": "t", "namespace": "ml"},
        "spec": {
            "tfReplicaSpecs": {
                "Chief": {"replicas": 1, "template": pod()},
                "PS": {"replicas": 2, "template": pod(gpu=0)},
                "Worker": {"replicas": 4, "template": pod()},
            }
        },
    }
    assert ranges([job]) == {
        "TFJob ml/t [Chief]": (0, 1),
        "TFJob ml/t [PS]": (0, 2),
        "TFJob ml/t [Worker]": (0, 4),
    }


def test_katib_parallel_trials_times_trial_pods() -> None:
    trial_job = {"apiVersion": "batch/v1", "kind": "Job", "spec": {"parallelism": 2, "template": pod()}}
    exp = {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "e", "namespace": "ml"},
        "spec": {"parallelTrialCount": 3, "maxTrialCount": 12, "trialTemplate": {"trialSpec": trial_job}},
    }
    assert ranges([exp]) == {"Experiment ml/e": (0, 6)}
    trial_pt = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": pod()},
                "Worker": {"replicas": 2, "template": pod()},
            }
        },
    }
    exp2 = {**exp, "spec": {"parallelTrialCount": 4, "trialTemplate": {"trialSpec": trial_pt}}}
    assert ranges([exp2]) == {"Experiment ml/e [Master]": (0, 4), "Experiment ml/e [Worker]": (0, 8)}


def test_keda_scaled_job() -> None:
    sj = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledJob",
        "metadata": {"name": "sj", "namespace": "ml"},
        "spec": {"jobTargetRef": {"parallelism": 2, "template": pod()}, "maxReplicaCount": 5},
    }
    assert ranges([sj]) == {"ScaledJob ml/sj": (0, 10)}


def test_daemonset_is_overhead_and_helmrelease_not_modelled() -> None:
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "d", "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": pod(gpu=0, cpu="100m")},
    }
    hr = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "h", "namespace": "x"},
        "spec": {"chart": {"spec": {"chart": "gpu-operator"}}},
    }
    demand = build_demand([manifest(ds), manifest(hr), manifest(deployment("a", 1))])
    assert [d.name for d in demand.daemonsets] == ["DaemonSet kube-system/d"]
    assert demand.daemonsets[0].requests["cpu"] == 100
    assert [m.ref.kind for m in demand.not_modelled] == ["HelmRelease"]
    assert [d.name for d in demand.pods] == ["Deployment ml/a"]


def test_requests_use_limits_for_extended_resources() -> None:
    demand = build_demand([manifest(deployment("a", 1))])
    assert demand.pods[0].requests == {"cpu": 2000, "memory": 4 * 2**30, "nvidia.com/gpu": 1, "pods": 1}


def test_bare_pod() -> None:
    bare = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ml"},
        "spec": pod()["spec"],
    }
    assert ranges([bare]) == {"Pod ml/p": (1, 1)}
