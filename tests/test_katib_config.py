"""The Katib configuration we patch in (infrastructure/controllers/base/kubeflow/training-stack.yaml).

Katib's manifests are not rendered offline (an external GitRepository), so these tests read our patch of the
katib-config ConfigMap directly: the suggestion pods Katib creates in the experiments' namespace must pass
that namespace's Pod Security level, every algorithm an Experiment of this repository asks for must be
configured, and every image must be of the release the GitRepository pins.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from helpers import REPO_ROOT
from mlplatform.yamlio import load_documents, plain

STACK = REPO_ROOT / "infrastructure/controllers/base/kubeflow/training-stack.yaml"


def _docs(path: Path) -> list[dict]:
    return [plain(d.data) for d in load_documents(path) if isinstance(d.data, dict)]


def _katib() -> tuple[dict, dict]:
    """(the kubeflow-katib GitRepository, the KatibConfig our patch sets)."""
    docs = _docs(STACK)
    source = next(d for d in docs if d["kind"] == "GitRepository" and d["metadata"]["name"] == "kubeflow-katib")
    kustomization = next(d for d in docs if d["kind"] == "Kustomization" and d["metadata"]["name"] == "kubeflow-katib")
    target = {"kind": "ConfigMap", "name": "katib-config"}
    (patch,) = [p for p in kustomization["spec"]["patches"] if p["target"] == target]
    config_map = yaml.safe_load(patch["patch"])
    return source, yaml.safe_load(config_map["data"]["katib-config.yaml"])


def _experiments() -> list[dict]:
    return [d for p in sorted((REPO_ROOT / "apps").rglob("*.yaml")) for d in _docs(p) if d.get("kind") == "Experiment"]


def _restricted(context: dict) -> list[str]:
    """What Pod Security `restricted` would reject in a container securityContext (pod-level fields unset)."""
    problems = []
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation")
    if (context.get("capabilities") or {}).get("drop") != ["ALL"]:
        problems.append("capabilities.drop")
    if context.get("runAsNonRoot") is not True or context.get("runAsUser") == 0:
        problems.append("runAsNonRoot")
    if (context.get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
        problems.append("seccompProfile")
    return problems


def test_every_suggestion_passes_restricted_pod_security():
    _, config = _katib()
    suggestions = config["runtime"]["suggestions"]
    assert len(suggestions) == 11
    for entry in suggestions:
        assert _restricted(entry.get("securityContext") or {}) == [], entry["algorithmName"]


def test_the_experiments_namespace_is_restricted_so_the_patch_is_needed():
    namespaces = {
        d["metadata"]["name"]: d["metadata"].get("labels") or {}
        for p in sorted((REPO_ROOT / "infrastructure").rglob("namespaces.yaml"))
        for d in _docs(p)
        if d["kind"] == "Namespace"
    }
    experiments = _experiments()
    assert experiments
    for experiment in experiments:
        labels = namespaces[experiment["metadata"]["namespace"]]
        assert labels.get("pod-security.kubernetes.io/enforce") == "restricted"
        assert labels.get("katib.kubeflow.org/metrics-collector-injection") == "enabled"


def test_every_algorithm_in_use_is_configured_and_no_early_stopping_is_asked_for():
    _, config = _katib()
    configured = {s["algorithmName"] for s in config["runtime"]["suggestions"]}
    for experiment in _experiments():
        assert experiment["spec"]["algorithm"]["algorithmName"] in configured
        # early stopping adds a container whose config takes no securityContext (EarlyStoppingConfig, v0.18.0)
        assert "earlyStopping" not in experiment["spec"]


def test_images_are_of_the_pinned_release():
    source, config = _katib()
    tag = source["spec"]["ref"]["tag"]
    runtime = config["runtime"]
    for entry in [*runtime["suggestions"], *runtime["metricsCollectors"], *runtime["earlyStoppings"]]:
        assert entry["image"].startswith("ghcr.io/kubeflow/katib/") and entry["image"].endswith(f":{tag}"), entry
