"""checkov over the rendered apps: 0 failed checks on the repository, failures found and traced to their
source file when a workload loses a security setting, and training-job pods checked as Pods."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlplatform.model import Manifest, Provenance

# One worker runs this module, so its module-scoped checkov run happens once under pytest-xdist.
pytestmark = pytest.mark.xdist_group("checkov-apps")

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "checkov_rendered.py"


@pytest.fixture(scope="module")
def checkov_bin() -> str:
    path = os.environ.get("CHECKOV") or str(REPO / ".venv-checkov" / "bin" / "checkov")
    if not Path(path).is_file():
        pytest.fail(f"checkov not found at {path}: run `make setup` or set CHECKOV")
    return path


def run_script(*args: str, repo: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--repo", str(repo), *args],
                          capture_output=True, text=True, timeout=600)


def _module():
    if "checkov_rendered" in sys.modules:
        return sys.modules["checkov_rendered"]
    spec = importlib.util.spec_from_file_location("checkov_rendered", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["checkov_rendered"] = module
    spec.loader.exec_module(module)
    return module


def test_rendered_apps_pass_checkov(checkov_bin: str) -> None:
    proc = run_script("--checkov", checkov_bin)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = proc.stdout.splitlines()[0]
    assert "failed 0" in summary and "(production, staging;" in summary
    # Something was really checked: thousands of passed checks over both clusters.
    passed = int(summary.split("passed ")[1].split(",")[0])
    assert passed > 1000


def test_lost_security_settings_fail_with_their_source(checkov_bin: str, repo_copy: Path) -> None:
    mlflow = repo_copy / "apps/base/mlops/mlflow/deployment.yaml"
    text = mlflow.read_text()
    assert "allowPrivilegeEscalation: false" in text
    mlflow.write_text(text.replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"))
    postgres = repo_copy / "apps/base/mlops/postgres/statefulset.yaml"
    lines = postgres.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if "checkov.io/skip1" in line)
    del lines[start - 1:start + 3]  # the annotations key, the skip and its two continuation lines
    postgres.write_text("".join(lines))

    proc = run_script("--checkov", checkov_bin, "--cluster", "staging", repo=repo_copy)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    assert any("CKV_K8S_20" in f and "apps/base/mlops/mlflow/deployment.yaml" in f for f in failed), failed
    assert any("CKV_K8S_43" in f and "apps/base/mlops/postgres/statefulset.yaml" in f for f in failed), failed
    assert all(" staging " in f for f in failed)


def test_missing_checkov_is_a_clear_error(tmp_path: Path) -> None:
    proc = run_script("--checkov", str(tmp_path / "no-checkov"), "--cluster", "staging")
    assert proc.returncode == 2
    assert "checkov not found" in proc.stderr and "Traceback" not in proc.stderr


def _job(annotations: dict[str, str]) -> Manifest:
    pod = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "pytorch", "image": "x:1"}]}}
    obj = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
           "metadata": {"name": "j", "namespace": "training", "annotations": annotations},
           "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": pod},
                                            "Worker": {"replicas": 2, "template": pod}}}}
    return Manifest("production", obj, Provenance("apps/base/training/j.yaml", 3, "apps"))


def test_training_job_templates_become_pods_with_the_job_skips() -> None:
    module = _module()
    pods = module.pods_of_custom_resources(_job({"checkov.io/skip1": "CKV_K8S_43=reason", "other": "x"}))
    assert [p["metadata"]["name"] for p in pods] == ["j-master", "j-worker"]
    assert all(p["kind"] == "Pod" and p["spec"]["containers"][0]["name"] == "pytorch" for p in pods)
    assert pods[0]["metadata"]["annotations"] == {"checkov.io/skip1": "CKV_K8S_43=reason"}


def test_core_kinds_are_left_to_checkov() -> None:
    module = _module()
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"template": {"spec": {"containers": []}}}}
    deployment = Manifest("production", obj, Provenance("apps/base/x.yaml", 1, "apps"))
    assert module.pods_of_custom_resources(deployment) == []


def test_failed_checks_map_back_to_sources() -> None:
    module = _module()
    report = {"results": {"failed_checks": [{"check_id": "CKV_K8S_20", "check_name": "n", "resource": "r",
                                             "file_path": "/staging/0001-Deployment-mlops-mlflow.yaml"}]}}
    sources = {"/staging/0001-Deployment-mlops-mlflow.yaml": "apps/base/mlops/mlflow/deployment.yaml:14"}
    (failed,) = module.failed_checks(report, sources)
    assert (failed.check_id, failed.cluster, failed.source) == (
        "CKV_K8S_20", "staging", "apps/base/mlops/mlflow/deployment.yaml:14")


def test_namespace_baseline_policies_join_the_scan() -> None:
    """CKV2_K8S_6 needs to see the NetworkPolicies of our namespaces, which infra-configs applies."""
    manifests = _module().app_manifests(REPO, "staging", [])
    baseline = [m for m in manifests if m.source.flux_kustomization != "apps"]
    policies = [m for m in baseline if m.ref.kind == "NetworkPolicy"]
    assert {m.ref.namespace for m in policies} <= {"inference", "training", "agents", "mlops"}
    assert any(m.ref.namespace == "inference" and not m.obj["spec"].get("podSelector") for m in policies)
    # Everything else in the scan is ours.
    assert policies and len(policies) == len(baseline)
