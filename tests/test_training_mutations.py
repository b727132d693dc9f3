"""Issue 11 items 6 and 10 reintroduced into a copy of this repository: `check` fails with exit 1 and names them.

One `mlplatform check --format json` of the copy carries every mutation below (a check of the whole
repository is the slow part); each must come back as an error of its rule at the file a person edits:
- item 10: a trainer capped by a variable no framework reads (the old PYTORCH_GPU_MEMORY_FRACTION), and a
  TensorFlow trainer that sets the launcher's variable but no longer runs the launcher;
- item 6: the Katib trial pod without the namespace file report_metrics reads (Push, no token), the trial
  namespace without Katib's injection label, and trial egress to katib-db-manager closed.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers import edit_copy, run_cli

PRETRAIN = "apps/base/training/llm-pretrain-spot/pytorchjob.yaml"
RECSYS = "apps/base/training/recsys-tfjob/tfjob.yaml"
EXPERIMENT = "apps/base/training/hpo-katib/experiment.yaml"
NAMESPACES = "infrastructure/configs/base/workloads/namespaces.yaml"
POLICIES = "infrastructure/configs/base/workloads/network-policies/training/policies.yaml"


def _errors(findings: list[dict], rule: str, file: str) -> list[str]:
    return [f["message"] for f in findings if f["rule"] == rule and f["severity"] == "error" and f["file"] == file]


def test_reintroduced_training_faults_fail_check_at_their_files(repo_copy: Path, crd_schemas: Path):
    # Item 10: back to the variable nothing reads, without the launcher.
    edit_copy(repo_copy, PRETRAIN, "MLPLATFORM_GPU_MEMORY_FRACTION", "PYTORCH_GPU_MEMORY_FRACTION")
    edit_copy(repo_copy, PRETRAIN, "/opt/mlplatform/gpu-memory-cap/torch_memory_cap.py\n", "\n")
    # Item 10: the launcher's variable stays, the launcher goes.
    edit_copy(repo_copy, RECSYS, "exec python /opt/mlplatform/gpu-memory-cap/tf_memory_cap.py ", "exec python ")
    # Item 6: Push without the downward-API namespace file (the pod mounts no token).
    edit_copy(
        repo_copy, EXPERIMENT,
        "                  - {name: katib-trial-namespace, mountPath: /var/run/secrets/kubernetes.io/serviceaccount, "
        "readOnly: true}\n",
        "",
    )
    # Item 6: the namespace loses the label Katib's pod webhook selects on.
    edit_copy(repo_copy, NAMESPACES, "    katib.kubeflow.org/metrics-collector-injection: enabled\n", "")
    # Item 6: egress to the DB manager on the wrong port.
    edit_copy(repo_copy, POLICIES, "          port: 6789\n", "          port: 6790\n", count=2)

    proc = run_cli("check", "--repo", str(repo_copy), "--format", "json", "--schema-location", str(crd_schemas))
    assert proc.returncode == 1, proc.stderr + proc.stdout[-2000:]
    findings = json.loads(proc.stdout)["findings"]

    pretrain = _errors(findings, "policy/gpu-memory-uncapped", PRETRAIN)
    assert pretrain and all("PYTORCH_GPU_MEMORY_FRACTION is not a cap" in m for m in pretrain), pretrain
    recsys = _errors(findings, "policy/gpu-memory-uncapped", RECSYS)
    assert recsys and all("MLPLATFORM_GPU_MEMORY_LIMIT_MB is read by tf-memory-cap" in m for m in recsys), recsys

    experiment = _errors(findings, "policy/katib-metrics-collector", EXPERIMENT)
    assert any("/var/run/secrets/kubernetes.io/serviceaccount/namespace" in m for m in experiment), experiment
    assert any(POLICIES in m and "katib-db-manager.kubeflow:6789" in m for m in experiment), experiment
    namespace = _errors(findings, "policy/katib-metrics-collector", NAMESPACES)
    assert any("Namespace training" in m and "metrics-collector-injection" in m for m in namespace), namespace
    # Both clusters render these files; every finding carries a line to go to.
    katib = [f for f in findings if f["rule"] == "policy/katib-metrics-collector"]
    assert {c for f in katib for c in f["clusters"]} == {"production", "staging"}
    assert all(isinstance(f["line"], int) and f["line"] >= 1 for f in findings if f["file"] in (PRETRAIN, EXPERIMENT))
