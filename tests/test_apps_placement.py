"""Placement of the apps: simulate scheduling of every rendered pod template against the cluster's pool file
and require each to land only on the pools the design gives its workload type (and on at least one)."""

from __future__ import annotations

import copy
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlplatform.catalog import Catalog, load_catalog
from mlplatform.cluster_render import render_cluster_manifests
from mlplatform.config import load_config
from mlplatform.model import Manifest, Pool
from mlplatform.pools import load_pool_file, pool_file_path
from mlplatform.scheduling import place
from mlplatform.workloads import PodTemplate, pod_templates

REPO = Path(__file__).resolve().parent.parent
CLUSTERS = ("production", "staging")
TYPE_LABEL = "mlplatform.example.com/workload-type"
# The design's pool table with the corrections in docs/architecture.md and the spot
# pool of the pool files). policies/workload-pools.yaml is the policy engine's copy; a test keeps them equal.
DESIGN_POOLS: dict[str, set[str]] = {
    "production-inference": {"a100-mig"},
    "critical-agents": {"a100-mig"},
    "batch-inference": {"a100-timeslice"},
    "research": {"a100-timeslice"},
    "development": {"a100-timeslice"},
    "training": {"a100-timeslice", "h100-timeslice"},
    "training-spot": {"a100-timeslice-spot"},
    "fine-tuning": {"h100-timeslice"},
    "agents": {"cpu"},
    "mlops": {"cpu"},
    "control": {"cpu"},
}


def allowed_pools() -> dict[str, set[str]]:
    """Type -> pools: the policy file when it exists, else the design table above."""
    policy = REPO / "policies" / "workload-pools.yaml"
    if not policy.is_file():
        return DESIGN_POOLS
    types = (yaml.safe_load(policy.read_text()) or {}).get("types") or {}
    return {name: set(entry.get("pools") or []) for name, entry in types.items()}


@dataclass
class RenderedCluster:
    cluster: str
    apps: list[Manifest]
    pools: list[Pool]
    catalog: Catalog

    def templates(self) -> list[PodTemplate]:
        return [t for m in self.apps for t in pod_templates(m)]


@pytest.fixture(scope="module", params=CLUSTERS)
def rendered(request: pytest.FixtureRequest) -> RenderedCluster:
    cluster = request.param
    manifests, _findings = render_cluster_manifests(REPO, load_config(REPO), cluster)
    apps = [m for m in manifests if m.source.flux_kustomization == "apps"]
    pool_file = load_pool_file(pool_file_path(REPO, cluster), REPO)
    return RenderedCluster(cluster, apps, list(pool_file.pools.values()), load_catalog())


def is_gpu(pod_spec: dict[str, Any]) -> bool:
    for container in (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or []):
        resources = container.get("resources") or {}
        for section in ("requests", "limits"):
            if any(str(k).startswith("nvidia.com/") for k in (resources.get(section) or {})):
                return True
    return False


def misplacement(labels: dict[str, str], pod_spec: dict[str, Any], pools: list[Pool], catalog: Catalog,
                 allowed: dict[str, set[str]]) -> str | None:
    """Why this pod template is placed wrongly, or None when it lands only on pools its type allows."""
    workload_type = labels.get(TYPE_LABEL)
    if workload_type is None:
        return f"no {TYPE_LABEL} label"
    if workload_type not in allowed:
        return f"unknown workload type {workload_type!r}"
    placement = place(pod_spec, pools, catalog)
    fits = set(placement.fits)
    if not fits:
        return f"lands on no pool: {placement.reasons}"
    wrong = fits - allowed[workload_type]
    if wrong:
        return f"type {workload_type} may run on {sorted(allowed[workload_type])}, also fits {sorted(wrong)}"
    return None


def _problems(rendered: RenderedCluster, gpu_only: bool) -> tuple[int, list[str]]:
    allowed = allowed_pools()
    checked, problems = 0, []
    for template in rendered.templates():
        if gpu_only and not is_gpu(template.pod_spec):
            continue
        checked += 1
        why = misplacement(template.labels, template.pod_spec, rendered.pools, rendered.catalog, allowed)
        if why:
            problems.append(f"{rendered.cluster}: {template.manifest.ref} {template.role or ''} "
                            f"({template.manifest.source.file}): {why}")
    return checked, problems


def test_every_gpu_workload_lands_on_its_pools(rendered: RenderedCluster) -> None:
    checked, problems = _problems(rendered, gpu_only=True)
    # vllm, tgi, triton, agent-guard, vllm-batch, tgi-batch, 2 roles x 3 training jobs, the Katib trial.
    assert checked >= 11, f"only {checked} GPU pod templates rendered: is apps/{rendered.cluster} complete?"
    assert problems == []


def test_every_app_pod_lands_on_its_pools(rendered: RenderedCluster) -> None:
    """CPU workloads too: agents and MLOps on the cpu pool, never on a GPU pool."""
    checked, problems = _problems(rendered, gpu_only=False)
    assert checked > 11
    assert problems == []


def test_each_gpu_type_of_the_design_is_exercised(rendered: RenderedCluster) -> None:
    types = {t.labels.get(TYPE_LABEL) for t in rendered.templates() if is_gpu(t.pod_spec)}
    assert {"production-inference", "critical-agents", "batch-inference", "training", "training-spot",
            "fine-tuning"} <= types


def test_policy_file_agrees_with_design() -> None:
    assert {k: v for k, v in allowed_pools().items() if k in DESIGN_POOLS} == DESIGN_POOLS


# ---------------------------------------------------------------- the check itself catches misplacement


def _template(rendered: RenderedCluster, kind: str, name: str, role: str | None = None) -> PodTemplate:
    for template in rendered.templates():
        ref = template.manifest.ref
        if ref.kind == kind and ref.name == name and template.role == role:
            return template
    raise AssertionError(f"{kind} {name} {role} not rendered")


def _bad(rendered: RenderedCluster, kind: str, name: str, role: str | None, mutate) -> str | None:
    template = _template(rendered, kind, name, role)
    spec = copy.deepcopy(template.pod_spec)
    labels = dict(template.labels)
    mutate(spec, labels)
    return misplacement(labels, spec, rendered.pools, rendered.catalog, allowed_pools())


def test_unchanged_templates_pass(rendered: RenderedCluster) -> None:
    assert _bad(rendered, "CronJob", "vllm-batch", None, lambda spec, labels: None) is None
    assert _bad(rendered, "Deployment", "vllm", None, lambda spec, labels: None) is None


def test_gpu_exists_toleration_spills_onto_other_pools(rendered: RenderedCluster) -> None:
    def mutate(spec: dict, labels: dict) -> None:
        spec["tolerations"] = [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
        spec.pop("nodeSelector")

    why = _bad(rendered, "CronJob", "vllm-batch", None, mutate)
    assert why is not None and "h100-timeslice" in why


def test_spot_job_without_spot_toleration_lands_nowhere(rendered: RenderedCluster) -> None:
    def mutate(spec: dict, labels: dict) -> None:
        spec["tolerations"] = [t for t in spec["tolerations"] if t["key"] != "spot"]

    why = _bad(rendered, "PyTorchJob", "llm-pretrain-spot", "Worker", mutate)
    assert why is not None and why.startswith("lands on no pool")


def test_fine_tuning_with_the_a100_toleration_lands_nowhere(rendered: RenderedCluster) -> None:
    def mutate(spec: dict, labels: dict) -> None:
        spec["tolerations"] = [{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]

    why = _bad(rendered, "PyTorchJob", "llm-finetune-h100", "Master", mutate)
    assert why is not None and why.startswith("lands on no pool")


def test_training_type_on_the_spot_pool_is_rejected(rendered: RenderedCluster) -> None:
    """A job that selects the spot pool but calls itself `training` lands where its type may not run."""
    def mutate(spec: dict, labels: dict) -> None:
        labels[TYPE_LABEL] = "training"

    why = _bad(rendered, "PyTorchJob", "llm-pretrain-spot", "Master", mutate)
    assert why is not None and "a100-timeslice-spot" in why


def test_untyped_template_is_rejected(rendered: RenderedCluster) -> None:
    def mutate(spec: dict, labels: dict) -> None:
        labels.pop(TYPE_LABEL)

    assert _bad(rendered, "Deployment", "crewai", None, mutate) == f"no {TYPE_LABEL} label"


# ---------------------------------------------------------------- the workloads table


def _workload_table_module():
    if "workload_table" in sys.modules:
        return sys.modules["workload_table"]
    spec = importlib.util.spec_from_file_location("workload_table", REPO / "scripts" / "workload_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["workload_table"] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


def test_docs_table_is_current() -> None:
    module = _workload_table_module()
    expected = module.render_doc(REPO)
    assert (REPO / "docs" / "workloads.md").read_text(encoding="utf-8") == expected, (
        "docs/workloads.md is stale: run .venv/bin/python scripts/workload_table.py --write")


def test_docs_table_rows_follow_the_manifests(rendered: RenderedCluster) -> None:
    module = _workload_table_module()
    rows = {r.workload: r for r in module.workload_rows(rendered.apps, rendered.pools, rendered.catalog)}
    vllm = rows["Deployment inference/vllm"]
    assert (vllm.pools, vllm.gpu, vllm.replicas_min, vllm.priority) == (
        ("a100-mig",), "nvidia.com/mig-3g.40gb x1", 2, "production-inference")
    assert rows["PyTorchJob training/llm-pretrain-spot/Master"].pools == ("a100-timeslice-spot",)
    assert rows["Deployment mlops/mlflow"].gpu == "-"


def test_mig_profile_the_pool_lacks_lands_nowhere(rendered: RenderedCluster) -> None:
    def mutate(spec: dict, labels: dict) -> None:
        resources = spec["containers"][0]["resources"]
        for section in ("requests", "limits"):
            resources[section]["nvidia.com/mig-4g.40gb"] = resources[section].pop("nvidia.com/mig-3g.40gb")

    why = _bad(rendered, "Deployment", "vllm", None, mutate)
    assert why is not None and why.startswith("lands on no pool")


def test_staging_overlay_only_lowers_ceilings() -> None:
    """Staging runs the production workloads on the same pools, with the same minimums, at most as large."""
    module = _workload_table_module()
    production = {r.workload: r for r in module.cluster_rows(REPO, "production")}
    staging = {r.workload: r for r in module.cluster_rows(REPO, "staging")}
    assert staging.keys() == production.keys()
    for name, prod in production.items():
        stage = staging[name]
        assert (stage.pools, stage.gpu, stage.priority, stage.workload_type) == (
            prod.pools, prod.gpu, prod.priority, prod.workload_type), name
        assert stage.replicas_max <= prod.replicas_max, name
        if prod.runs == "service":
            assert stage.replicas_min == prod.replicas_min, name
    assert any(staging[n].replicas_max < production[n].replicas_max for n in production)
