"""Issue 11 item 8 reintroduced into a copy of this repository: `check` fails with exit 1 and names the file.

One `mlplatform check --format json` of the copy carries both mutations (a check of the whole repository is
the slow part):
- the spot pre-training PyTorchJob (1 master + 3 workers on the EFA pool a100-timeslice-spot) loses its
  vpc.amazonaws.com/efa request: its NCCL traffic would go over TCP;
- vLLM, on the MIG pool (no EFA), asks for an EFA interface: it would stay Pending.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import edit_copy, run_cli

pytestmark = pytest.mark.xdist_group("mutated-copies")

RULE = "policy/efa-not-requested"
PRETRAIN = "apps/base/training/llm-pretrain-spot/pytorchjob.yaml"
VLLM = "apps/base/inference/vllm/deployment.yaml"


def test_reintroduced_efa_faults_fail_check_at_their_files(repo_copy: Path, crd_schemas: Path):
    edit_copy(repo_copy, PRETRAIN, "                  vpc.amazonaws.com/efa: 4\n", "", count=2)
    edit_copy(
        repo_copy, VLLM,
        "              nvidia.com/mig-3g.40gb: 1\n",
        "              nvidia.com/mig-3g.40gb: 1\n              vpc.amazonaws.com/efa: 1\n",
        count=2,
    )

    proc = run_cli("check", "--repo", str(repo_copy), "--format", "json", "--schema-location", str(crd_schemas))
    assert proc.returncode == 1, proc.stderr + proc.stdout[-2000:]
    findings = json.loads(proc.stdout)["findings"]
    ours = [f for f in findings if f["rule"] == RULE]
    assert all(f["severity"] == "error" for f in ours), ours

    pretrain = [f for f in ours if f["file"] == PRETRAIN]
    # Master and Worker, in both clusters (staging runs the job with one worker: still distributed).
    assert {(f["cluster"], "replica Master" in f["message"]) for f in pretrain} == {
        ("production", True), ("production", False), ("staging", True), ("staging", False)
    }, pretrain
    assert all("4 on a100-timeslice-spot (p4d.24xlarge)" in f["message"] for f in pretrain)
    assert any("(4 GPU pods)" in f["message"] for f in pretrain if f["cluster"] == "production")

    vllm = [f for f in ours if f["file"] == VLLM]
    assert vllm and all("only be placed on pool(s) a100-mig" in f["message"] for f in vllm), vllm
    # The EFA request is this rule's to explain; fits-no-pool does not report the same template again.
    assert not [f for f in findings if f["rule"] == "policy/fits-no-pool" and f["file"] == VLLM]
    # Nothing else of this rule: the other jobs keep their requests.
    assert {f["file"] for f in ours} == {PRETRAIN, VLLM}
