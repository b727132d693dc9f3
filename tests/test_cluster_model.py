"""The cluster model (cluster_model.py): built once, read by the rules, the capacity fit and the planner.

- One placement per pod template, with DaemonSet overhead, shared by the rules and the plan.
- One owner for "this workload fits no pool": the rule fits-no-pool; capacity/unplaced defers to it, so
  exempting it does not bring the other back (issue 17).
- One autoscaler resolver: ha-replicas and the plan read the same replica range.
- Pool sharing modes and capacity types are enums; effective time-slicing replicas are one property.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from helpers import REPO_ROOT, run_cli
from mlplatform import suppress
from mlplatform.capacity.fit import RULE_UNPLACED, check_fit
from mlplatform.capacity.plan import plan_cluster
from mlplatform.catalog import load_catalog
from mlplatform.cluster_model import ClusterModel
from mlplatform.config import Config
from mlplatform.context import ClusterContext
from mlplatform.model import (
    CapacityType,
    GpuSharing,
    Manifest,
    Pool,
    PoolFile,
    Provenance,
    SharingMode,
)
from mlplatform.rules import run_rules
from mlplatform.rules.ha_replicas import ID as HA_REPLICAS
from test_plan_cli import gpu_daemonset, gpu_deployment, pool_file

CATALOG = load_catalog()
FITS_NO_POOL = "policy/fits-no-pool"


def cpu_deployment(name: str, cpu: str, annotations: dict[str, str] | None = None) -> Manifest:
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ml", "annotations": annotations or {}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"a": name}},
            "template": {
                "metadata": {"labels": {"a": name}},
                "spec": {"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": cpu}}}]},
            },
        },
    }
    return Manifest("test", obj, Provenance(f"apps/{name}.yaml", 7))


def context(*manifests: Manifest) -> ClusterContext:
    return ClusterContext(REPO_ROOT, Config(repo=REPO_ROOT), "test", list(manifests), pool_file())


def errors_on(findings: list, file: str) -> list[tuple[str, str]]:
    """The errors about where the pods of `file` fit (other rules judge other things on the same object)."""
    return [(f.rule, f.message) for f in findings
            if f.file == file and f.severity.value == "error" and f.rule in (FITS_NO_POOL, RULE_UNPLACED)]


# ---------------------------------------------------------------- one owner for "fits no pool"


def test_a_deployment_asking_for_1000_cpus_gets_one_error_from_the_rule_and_none_from_the_fit() -> None:
    ctx = context(cpu_deployment("huge", "1000"))
    rule_errors = errors_on(run_rules(ctx), "apps/huge.yaml")
    fit_errors = errors_on(check_fit(ctx), "apps/huge.yaml")
    assert [rule for rule, _ in rule_errors] == [FITS_NO_POOL]
    assert "cpu: requests 1000000m" in rule_errors[0][1]
    assert fit_errors == []


def test_exempting_fits_no_pool_does_not_bring_capacity_unplaced_back() -> None:
    exempt = {"mlplatform.example.com/exempt-fits-no-pool": "sized for a future instance type"}
    ctx = context(cpu_deployment("huge", "1000", exempt))
    findings = run_rules(ctx) + list(check_fit(ctx))
    suppress.mark_annotated(findings, ctx.manifests)  # the reporting layer applies exemptions (suppress.py)
    placement = [f for f in findings if f.file == "apps/huge.yaml" and f.rule in (FITS_NO_POOL, RULE_UNPLACED)]
    # one finding owns the cause; it stays visible as suppressed, and capacity/unplaced does not come back
    assert [(f.rule, f.suppression is not None) for f in placement] == [(FITS_NO_POOL, True)], placement


def test_the_fit_keeps_what_only_it_sees_a_host_port_every_node_has_taken() -> None:
    ds = gpu_daemonset()
    ds.obj["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "1"
    ds.obj["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 9400, "hostPort": 9400}]
    pod = gpu_deployment("exporter", 1)
    pod.obj["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 9400, "hostPort": 9400}]
    ctx = ClusterContext(REPO_ROOT, Config(repo=REPO_ROOT), "test", [ds, pod], pool_file())
    assert ctx.model.placement(ctx.model.demand.pods[0]).fits == ["a100-timeslice"]  # the scheduler admits it
    fit = errors_on(check_fit(ctx), "apps/exporter.yaml")
    assert [rule for rule, _ in fit] == [RULE_UNPLACED] and "9400" in fit[0][1]


# ---------------------------------------------------------------- one model, one placement


def test_rules_and_plan_read_the_same_placement_with_daemonset_overhead() -> None:
    # The DaemonSet takes 30 of a p4d.24xlarge's ~95 allocatable CPUs: a pod asking for 70 fits an empty
    # node but not one running the DaemonSet. The rules used to place it without the overhead (fits) while
    # the plan placed it with (unplaced): now both read the model's one placement.
    pod = gpu_deployment("wide", 1)
    pod.obj["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "70"
    ctx = ClusterContext(REPO_ROOT, Config(repo=REPO_ROOT), "test", [gpu_daemonset(), pod], pool_file())
    model = ctx.model
    (workload,) = model.demand.pods
    placement = model.placement(workload)
    assert placement.fits == [] and "cpu: requests 70000m" in placement.reasons["a100-timeslice"]
    assert model.overhead.requests["a100-timeslice"]["cpu"] == 30000
    assert model.place(workload.template.pod_spec, workload.requests, daemonset=True).fits == ["a100-timeslice"]
    rule_errors = errors_on(run_rules(ctx), "apps/wide.yaml")
    assert [rule for rule, _ in rule_errors] == [FITS_NO_POOL]
    plan = plan_cluster("test", ctx.manifests, ctx.pool_file, CATALOG, model=model)
    assert [u.workload for u in plan.unplaced] == [workload]
    assert model.placement(workload) is placement  # computed once, not per reader


def test_check_builds_the_model_once_per_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    original = ClusterModel.__init__

    def counting(self: ClusterModel, *args: Any, **kwargs: Any) -> None:
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ClusterModel, "__init__", counting)
    ctx = context(cpu_deployment("huge", "1000"), gpu_deployment("vllm", 2))
    run_rules(ctx)
    check_fit(ctx)
    assert len(built) == 1


# ---------------------------------------------------------------- one autoscaler resolver


def _scaled_object(target: str, minimum: int | None, maximum: int) -> Manifest:
    spec: dict[str, Any] = {"scaleTargetRef": {"name": target}, "maxReplicaCount": maximum}
    if minimum is not None:
        spec["minReplicaCount"] = minimum
    obj = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": target, "namespace": "ml"},
           "spec": spec}
    return Manifest("test", obj, Provenance(f"apps/{target}-so.yaml", 1))


def _hpa(target: str, minimum: int, maximum: int) -> Manifest:
    obj = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": target, "namespace": "ml"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                    "minReplicas": minimum, "maxReplicas": maximum}}
    return Manifest("test", obj, Provenance(f"apps/{target}-hpa.yaml", 1))


def test_ha_replicas_and_the_plan_read_one_autoscaler_range() -> None:
    # KEDA's default minReplicaCount is 0 and a ScaledObject wins over an HPA on the same Deployment.
    deployment = gpu_deployment("vllm", 3)
    deployment.obj["spec"]["template"]["metadata"]["labels"]["mlplatform.example.com/workload-type"] = (
        "production-inference"
    )
    ctx = context(deployment, _hpa("vllm", 2, 4), _scaled_object("vllm", None, 6))
    scale = ctx.model.scale_of(deployment)
    assert scale is not None and (scale.minimum, scale.maximum) == (0, 6)
    assert scale.source == "KEDA ScaledObject ml/vllm"
    (pod,) = ctx.model.demand.pods
    assert (pod.min_replicas, pod.max_replicas, pod.scaled_by) == (0, 6, "KEDA ScaledObject ml/vllm")
    ha = [f for f in run_rules(ctx) if f.rule == HA_REPLICAS]
    assert len(ha) == 1 and "scales down to 0 replica(s)" in ha[0].message and "ScaledObject" in ha[0].message


def test_an_autoscaler_that_fails_its_schema_still_owns_its_target_but_sets_no_planned_range() -> None:
    deployment = gpu_deployment("vllm", 3)
    so = _scaled_object("vllm", 0, 6)
    model = ClusterModel([deployment, so], pool_file(), CATALOG, ignored_autoscalers=[(so.source.file, so.ref)])
    scale = model.scale_of(deployment)
    assert scale is not None and scale.scaler is so  # ha-replicas still sees who owns the count
    (pod,) = model.demand.pods
    assert (pod.min_replicas, pod.max_replicas, pod.scaled_by) == (3, 3, "replicas")


# ---------------------------------------------------------------- pool enums and properties


def _pool(gpu: GpuSharing | None, capacity_type: str = "on-demand") -> Pool:
    return Pool("p", ["p4d.24xlarge"], capacity_type, 0, 1, 0, gpu=gpu)


@pytest.mark.parametrize(
    ("gpu", "sharing", "replicas"),
    [
        (None, SharingMode.NONE, 1),
        (GpuSharing("none"), SharingMode.NONE, 1),
        (GpuSharing("time-slicing", replicas=4), SharingMode.TIME_SLICING, 4),
        (GpuSharing("time-slicing"), SharingMode.TIME_SLICING, 1),  # missing: pool_rules reports it
        (GpuSharing("mig", mig_layout={"1g.10gb": 7}), SharingMode.MIG, 1),
        (GpuSharing("timeslicing", replicas=4), None, 1),  # no mode: pool_rules reports it with its line
    ],
)
def test_pool_sharing_mode_and_effective_replicas(gpu: GpuSharing | None, sharing: SharingMode | None,
                                                  replicas: int) -> None:
    pool = _pool(gpu)
    assert pool.sharing is sharing and pool.replicas_per_gpu == replicas
    assert pool.mig_layout == ({"1g.10gb": 7} if sharing is SharingMode.MIG else {})


def test_gpu_units_and_node_labels_read_the_same_replicas() -> None:
    model = ClusterModel([], PoolFile("t", "us-east-1", {"p": _pool(GpuSharing("time-slicing", replicas=4))}, "f"),
                         CATALOG)
    (view,) = model.index.views
    assert view.capacity["nvidia.com/gpu"] == 8 * 4  # p4d.24xlarge: 8 A100s, 4 replicas each
    assert view.labels["nvidia.com/gpu.replicas"] == "4" and view.labels["nvidia.com/gpu.sharing-strategy"] == (
        "time-slicing"
    )


def test_capacity_type_is_an_enum_that_reads_as_the_pool_file_text() -> None:
    assert _pool(None, "spot").spot and not _pool(None).spot
    assert CapacityType.SPOT == "spot" and json.dumps(CapacityType.ON_DEMAND) == '"on-demand"'


# ---------------------------------------------------------------- the whole check, on a mutated copy

pytestmark_check = pytest.mark.xdist_group("model-mutations")

MLFLOW = "apps/base/mlops/mlflow/deployment.yaml"


def _mutate_mlflow(repo: Path, exempt: bool) -> None:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    path = repo / MLFLOW
    docs = list(yaml.load_all(path.read_text()))
    deployment = next(d for d in docs if d and d.get("kind") == "Deployment")
    resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    resources["requests"]["cpu"] = "1000"
    resources["limits"]["cpu"] = "1000"
    if exempt:
        deployment["metadata"]["annotations"]["mlplatform.example.com/exempt-fits-no-pool"] = "test: exempted"
    with path.open("w") as fh:
        yaml.dump_all(docs, fh)


def _check_errors_on_mlflow(repo: Path, crd_schemas: Path) -> tuple[int, list[dict[str, Any]]]:
    proc = run_cli("check", "--repo", str(repo), "--format", "json", "--schema-location", str(crd_schemas))
    assert proc.returncode in (0, 1), proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    return proc.returncode, [f for f in findings if f["severity"] == "error" and f["file"] == MLFLOW]


@pytestmark_check
def test_check_gives_a_deployment_that_fits_no_pool_exactly_one_error(repo_copy: Path, crd_schemas: Path) -> None:
    _mutate_mlflow(repo_copy, exempt=False)
    code, errors = _check_errors_on_mlflow(repo_copy, crd_schemas)
    assert code == 1
    # mlflow runs in both clusters: one error, fits-no-pool, naming both (or one per cluster when the pools'
    # reasons differ), and never a second rule about the same cause.
    assert {e["rule"] for e in errors} == {FITS_NO_POOL}, errors
    clusters = [c for e in errors for c in e["clusters"]]
    assert sorted(clusters) == ["production", "staging"], errors
    assert all(e["object"]["name"] == "mlflow" and "cpu: requests 1000000m" in e["message"] for e in errors)


@pytestmark_check
def test_check_with_fits_no_pool_exempted_reports_nothing_on_that_deployment(repo_copy: Path,
                                                                             crd_schemas: Path) -> None:
    _mutate_mlflow(repo_copy, exempt=True)
    _, errors = _check_errors_on_mlflow(repo_copy, crd_schemas)
    assert errors == []
