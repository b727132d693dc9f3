"""infrastructure/: GPU DaemonSets reach every GPU pool and only GPU pools; namespaces, quotas, priorities."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlplatform import gen
from mlplatform.catalog import load_catalog
from mlplatform.model import Pool, Taint
from mlplatform.pools import load_pool_file, pool_file_path

REPO_ROOT = Path(__file__).resolve().parent.parent
CLUSTERS = ("production", "staging")
WORKLOAD_NAMESPACES = ("inference", "training", "agents", "mlops")
PRIORITY_CLASSES = ("production-inference", "critical-agents", "training", "batch", "research")
PSS_REASON = "mlplatform.example.com/pss-reason"


# ---------------------------------------------------------------- Kubernetes placement semantics, small


def tolerates(tolerations: list[dict[str, Any]], taint: Taint) -> bool:
    """Does any toleration match the taint (core/v1 Toleration.ToleratesTaint)?"""
    for tol in tolerations or []:
        if tol.get("effect") and tol["effect"] != taint.effect:
            continue
        operator = tol.get("operator", "Equal")
        if not tol.get("key"):
            if operator == "Exists":
                return True
            continue
        if tol["key"] != taint.key:
            continue
        if operator == "Exists" or (operator == "Equal" and str(tol.get("value", "")) == (taint.value or "")):
            return True
    return False


def _expression_matches(expr: dict[str, Any], labels: dict[str, str]) -> bool:
    key, op, values = expr["key"], expr["operator"], [str(v) for v in expr.get("values") or []]
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    raise AssertionError(f"operator {op} not handled by this test")


def selects(node_selector: dict[str, str] | None, affinity: dict[str, Any] | None,
            labels: dict[str, str]) -> bool:
    """Would a pod with this nodeSelector and required node affinity fit a node with these labels?"""
    if any(labels.get(k) != str(v) for k, v in (node_selector or {}).items()):
        return False
    node_affinity = (affinity or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not required:
        return True
    return any(all(_expression_matches(e, labels) for e in term.get("matchExpressions") or [])
               for term in required["nodeSelectorTerms"])


# ---------------------------------------------------------------- rendering


def _kustomize(kustomize_bin: str, directory: Path) -> list[dict[str, Any]]:
    verb = "kustomize" if Path(kustomize_bin).name.startswith("kubectl") else "build"
    cmd = [kustomize_bin, verb, str(directory)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@cache
def _rendered(kustomize_bin: str, cluster: str) -> tuple[dict[str, Any], ...]:
    objects = []
    for layer in ("controllers", "configs"):
        objects += _kustomize(kustomize_bin, REPO_ROOT / "infrastructure" / layer / cluster)
    return tuple(objects)


@pytest.fixture(params=CLUSTERS)
def cluster(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def objects(kustomize_bin: str, cluster: str) -> tuple[dict[str, Any], ...]:
    return _rendered(kustomize_bin, cluster)


@pytest.fixture
def pools(repo_root: Path, cluster: str) -> dict[str, Pool]:
    return load_pool_file(pool_file_path(repo_root, cluster), repo_root).pools


def find(objects: tuple[dict[str, Any], ...], kind: str, name: str | None = None,
         namespace: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind
            and (name is None or o["metadata"]["name"] == name)
            and (namespace is None or o["metadata"].get("namespace") == namespace)]


def helm_values(objects: tuple[dict[str, Any], ...], name: str) -> dict[str, Any]:
    (release,) = find(objects, "HelmRelease", name)
    return release["spec"]["values"]


def gpu_taints(pools: dict[str, Pool]) -> list[tuple[str, Taint]]:
    return [(p.name, t) for p in pools.values() if p.is_gpu for t in p.taints]


# ---------------------------------------------------------------- the matchers themselves


def test_toleration_matcher_follows_kubernetes_semantics() -> None:
    mig = Taint("gpu", "mig", "NoSchedule")
    assert tolerates([{"key": "gpu", "operator": "Exists"}], mig)
    assert tolerates([{"operator": "Exists"}], mig)
    assert tolerates([{"key": "gpu", "operator": "Equal", "value": "mig", "effect": "NoSchedule"}], mig)
    assert not tolerates([{"key": "gpu", "operator": "Equal", "value": "true"}], mig)
    assert not tolerates([{"key": "gpu", "operator": "Exists", "effect": "NoExecute"}], mig)
    assert not tolerates([{"key": "nvidia.com/gpu", "operator": "Exists"}], mig)
    assert not tolerates([], mig)


def test_node_selection_matcher_follows_kubernetes_semantics() -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a", "b"]}]}]}}}
    assert selects(None, affinity, {"pool": "a"})
    assert not selects(None, affinity, {"pool": "c"})
    assert not selects(None, affinity, {})
    assert not selects({"x": "1"}, affinity, {"pool": "a"})
    assert selects(None, None, {})


# ---------------------------------------------------------------- GPU operator


def test_gpu_operands_tolerate_every_gpu_pool_taint(objects, pools) -> None:
    values = helm_values(objects, "gpu-operator")
    taints = gpu_taints(pools)
    assert {t.key for _, t in taints} >= {"gpu", "spot"}
    missing = [(pool, t) for pool, t in taints if not tolerates(values["daemonsets"]["tolerations"], t)]
    assert missing == []


def test_gpu_operand_tolerations_check_catches_a_missing_spot_toleration(objects, pools) -> None:
    """The check above is not vacuous: without the spot toleration the spot pool is missed."""
    all_tolerations = helm_values(objects, "gpu-operator")["daemonsets"]["tolerations"]
    tolerations = [t for t in all_tolerations if t["key"] != "spot"]
    missed = {pool for pool, t in gpu_taints(pools) if not tolerates(tolerations, t)}
    assert missed == {"a100-timeslice-spot"}


def test_nfd_worker_runs_on_every_gpu_pool_and_no_cpu_pool(objects, pools) -> None:
    worker = helm_values(objects, "gpu-operator")["node-feature-discovery"]["worker"]
    for pool in pools.values():
        placed = selects(worker.get("nodeSelector"), worker.get("affinity"), pool.labels) and all(
            tolerates(worker["tolerations"], t) for t in pool.taints)
        assert placed == pool.is_gpu, pool.name


def test_gpu_operands_are_placed_by_the_operator_on_gpu_nodes_only(objects) -> None:
    """The operands' nodeSelector (nvidia.com/gpu.deploy.<operand>) is set by the operator on nodes where NFD
    found an NVIDIA device; nothing in the values may widen that (there is no per-operand selector to set)."""
    values = helm_values(objects, "gpu-operator")
    assert values["nfd"]["enabled"] is True
    assert not {"nodeSelector", "affinity"} & set(values["daemonsets"])
    for operand in ("devicePlugin", "gfd", "migManager", "dcgmExporter"):
        assert values[operand]["enabled"] is True, operand


def test_gpu_operator_points_at_the_generated_configmaps(objects, cluster) -> None:
    values = helm_values(objects, "gpu-operator")
    assert values["driver"]["enabled"] is False and values["toolkit"]["enabled"] is False
    assert values["mig"]["strategy"] == "mixed"
    assert values["dcgmExporter"]["serviceMonitor"]["enabled"] is True
    device_plugin = values["devicePlugin"]["config"]
    mig_manager = values["migManager"]["config"]
    (dp_cm,) = find(objects, "ConfigMap", device_plugin["name"], "gpu-operator")
    (mig_cm,) = find(objects, "ConfigMap", mig_manager["name"], "gpu-operator")
    assert device_plugin["default"] in dp_cm["data"]
    mig_configs = yaml.safe_load(mig_cm["data"]["config.yaml"])["mig-configs"]
    assert mig_manager["default"] in mig_configs
    # The same ConfigMaps `mlplatform gen` writes for this cluster.
    generated = gen.generated_dir(REPO_ROOT, cluster)
    assert yaml.safe_load((generated / gen.DEVICE_PLUGIN_FILE).read_text()) == dp_cm
    assert yaml.safe_load((generated / gen.MIG_PARTED_FILE).read_text()) == mig_cm


@pytest.mark.parametrize("release", ["kube-prometheus-stack:prometheus-node-exporter", "fluent-bit:",
                                     "linkerd2-cni:"])
def test_node_agents_reach_every_gpu_pool(objects, pools, release: str) -> None:
    name, _, subchart = release.partition(":")
    values = helm_values(objects, name)
    values = values[subchart] if subchart else values
    assert [(p, t) for p, t in gpu_taints(pools) if not tolerates(values["tolerations"], t)] == []


def test_efa_device_plugin_runs_on_every_efa_pool_and_nowhere_else(objects, pools) -> None:
    values = helm_values(objects, "aws-efa-k8s-device-plugin")
    efa_pools = {p.name for p in pools.values() if p.efa}
    assert efa_pools >= {"a100-timeslice", "h100-timeslice", "a100-timeslice-spot"}
    reached = {p.name for p in pools.values()
               if selects(values.get("nodeSelector"), None, p.labels)
               and all(tolerates(values["tolerations"], t) for t in p.taints)}
    assert reached == efa_pools


# ---------------------------------------------------------------- namespaces, policies, quotas, priorities


def test_priority_classes_exist_and_research_is_preemptible(objects) -> None:
    classes = {o["metadata"]["name"]: o for o in find(objects, "PriorityClass")}
    assert set(PRIORITY_CLASSES) <= set(classes)
    research = classes["research"]
    assert research["preemptionPolicy"] == "Never"
    assert research["value"] == min(c["value"] for c in classes.values())
    assert classes["production-inference"]["value"] == max(c["value"] for c in classes.values())
    assert all(c["value"] > -10 for c in classes.values()), "below the autoscaler's expendable cutoff"


def test_every_namespace_has_pss_labels_or_a_reason(objects) -> None:
    namespaces = {o["metadata"]["name"]: o for o in find(objects, "Namespace")}
    assert set(WORKLOAD_NAMESPACES) <= set(namespaces)
    for name, ns in namespaces.items():
        labels = ns["metadata"].get("labels") or {}
        level = labels.get("pod-security.kubernetes.io/enforce")
        assert level in ("restricted", "baseline", "privileged"), name
        if level != "restricted":
            assert len((ns["metadata"].get("annotations") or {}).get(PSS_REASON, "")) > 40, name
    for name in WORKLOAD_NAMESPACES:
        assert namespaces[name]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("namespace", WORKLOAD_NAMESPACES)
def test_workload_namespace_denies_by_default(objects, namespace: str) -> None:
    policies = find(objects, "NetworkPolicy", namespace=namespace)
    deny = [p for p in policies if p["spec"]["podSelector"] == {}
            and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert len(deny) == 1
    # ... and allows DNS, or nothing would resolve.
    dns = [p for p in policies for rule in p["spec"].get("egress") or []
           if {"port": 53, "protocol": "UDP"} in rule.get("ports", [])]
    assert dns


def test_meshed_namespaces_reach_the_linkerd_control_plane(objects) -> None:
    for ns in find(objects, "Namespace"):
        name = ns["metadata"]["name"]
        if (ns["metadata"].get("annotations") or {}).get("linkerd.io/inject") != "enabled":
            continue
        assert find(objects, "NetworkPolicy", "allow-linkerd-control-plane", name), name


@pytest.mark.parametrize("namespace", WORKLOAD_NAMESPACES)
def test_workload_namespace_quota_covers_every_gpu_resource(objects, pools, namespace: str) -> None:
    (quota,) = find(objects, "ResourceQuota", namespace=namespace)
    hard = quota["spec"]["hard"]
    profiles = {p for pool in pools.values() if pool.gpu and pool.gpu.mig_layout for p in pool.gpu.mig_layout}
    expected = {"requests.nvidia.com/gpu"} | {f"requests.nvidia.com/mig-{p}" for p in profiles}
    assert expected <= set(hard)


def test_gpu_quotas_fit_the_pools_at_max_size(objects, pools) -> None:
    """The namespaces together cannot be promised more GPU units than the pools can ever offer."""
    catalog = load_catalog()
    capacity: dict[str, int] = {}
    for pool in pools.values():
        if not pool.gpu:
            continue
        gpus = pool.max_size * catalog.instance_types[pool.planning_instance_type].gpu_count
        if pool.gpu.sharing == "mig":
            for profile, count in pool.gpu.mig_layout.items():
                key = f"requests.nvidia.com/mig-{profile}"
                capacity[key] = capacity.get(key, 0) + gpus * count
        else:
            per_gpu = pool.gpu.replicas if pool.gpu.sharing == "time-slicing" else 1
            capacity["requests.nvidia.com/gpu"] = capacity.get("requests.nvidia.com/gpu", 0) + gpus * per_gpu
    promised: dict[str, int] = {}
    for quota in find(objects, "ResourceQuota"):
        for key, value in quota["spec"]["hard"].items():
            if key.startswith("requests.nvidia.com/"):
                promised[key] = promised.get(key, 0) + int(value)
    assert promised and all(promised[k] <= capacity.get(k, 0) for k in promised), (promised, capacity)


# ---------------------------------------------------------------- releases


def test_every_chart_version_is_pinned(objects) -> None:
    releases = find(objects, "HelmRelease")
    assert len(releases) >= 15
    for release in releases:
        version = release["spec"]["chart"]["spec"]["version"]
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", str(version)), (release["metadata"]["name"], version)
    for repo in find(objects, "GitRepository"):
        assert "tag" in repo["spec"]["ref"], repo["metadata"]["name"]


def test_unclassed_load_balancer_services_go_to_the_lb_controller(objects, cluster) -> None:
    # With the mutator off, EKS's in-tree cloud provider would make an internet-facing Classic LB of a
    # Service of type LoadBalancer without loadBalancerClass (docs/layers/networking.md).
    values = helm_values(objects, "aws-load-balancer-controller")
    assert values["enableServiceMutatorWebhook"] is True
    # Fail, not Ignore: an unreachable webhook must not let such a Service through to the in-tree provider.
    assert values["serviceMutatorWebhookConfig"]["failurePolicy"] == "Fail"
    # ... so the webhook's availability gates every Service create: production keeps it up through drains
    # (staging runs one replica, and the chart then renders no PodDisruptionBudget).
    assert values["podDisruptionBudget"]["maxUnavailable"] == 1
    assert values["replicaCount"] >= (2 if cluster == "production" else 1)


def test_no_account_id_is_hard_coded(repo_root: Path) -> None:
    for path in (repo_root / "infrastructure").rglob("*.yaml"):
        assert not re.search(r"(?<![\d.])\d{12}(?![\d.])", path.read_text()), path


def test_crd_installing_releases_say_which_groups_they_provide(objects) -> None:
    """The CRD-ordering check of `mlplatform check` relies on the annotation; a release that installs CRDs
    (install.crds set) without it would make its custom resources look unordered, and vice versa."""
    for release in find(objects, "HelmRelease"):
        installs = (release["spec"].get("install") or {}).get("crds", "Skip") != "Skip"
        annotated = "mlplatform.example.com/provides-crds" in (release["metadata"].get("annotations") or {})
        assert installs == annotated, release["metadata"]["name"]


def test_every_flux_variable_is_defined_for_every_cluster(repo_root: Path) -> None:
    """${var} without a default must be in each cluster's cluster-vars (Flux fails on an unset variable)."""
    used: set[str] = set()
    for path in (repo_root / "infrastructure").rglob("*.yaml"):
        text = path.read_text()
        if "kustomize.toolkit.fluxcd.io/substitute: disabled" in text:
            continue
        used |= set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text))
    assert {"cluster_name", "aws_region"} <= used
    for cluster in CLUSTERS:
        defined = yaml.safe_load((repo_root / "clusters" / cluster / "cluster-vars.yaml").read_text())["data"]
        assert used - set(defined) == set(), cluster
