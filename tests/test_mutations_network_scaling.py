"""Mutated copies for the VPC CNI network-policy agent, the autoscaler's GPU label and EFA pools.

One copy of the repository gets each fault back (the agent switched off in Terraform, the accelerator label
dropped from a time-sliced pool and put on a MIG pool, the EFA label dropped), and one `mlplatform check` of
the copy must exit 1 with a finding of the right rule at each mutated file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import edit_copy, run_cli

# Full check runs: keep the mutated copies on one xdist worker, next to each other.
pytestmark = pytest.mark.xdist_group("mutated-copies")

PLATFORM_TF = "terraform/modules/platform/main.tf"
PRODUCTION_POOLS = "terraform/environments/production/node-pools.yaml"
STAGING_POOLS = "terraform/environments/staging/node-pools.yaml"


def test_each_fault_is_an_error_at_its_file(repo_copy: Path, crd_schemas: Path) -> None:
    # The VPC CNI add-on without enableNetworkPolicy: every NetworkPolicy is decoration again.
    edit_copy(repo_copy, PLATFORM_TF, '        enableNetworkPolicy = "true"\n', "")
    # A time-sliced pool without the autoscaler's GPU label; the label on the MIG pool.
    label_line = edit_copy(repo_copy, PRODUCTION_POOLS, "      k8s.amazonaws.com/accelerator: nvidia-h100\n", "")
    mig_line = edit_copy(repo_copy, STAGING_POOLS, "      nvidia.com/mig.config: a100-mig\n",
                     "      nvidia.com/mig.config: a100-mig\n      k8s.amazonaws.com/accelerator: nvidia-tesla-a100\n")
    # An EFA pool whose nodes would not get the EFA device plugin.
    edit_copy(repo_copy, STAGING_POOLS,
          '      nvidia.com/device-plugin.config: a100-timeslice-spot\n      k8s.amazonaws.com/accelerator: '
          'nvidia-tesla-a100\n      mlplatform.example.com/efa: "true"\n',
          "      nvidia.com/device-plugin.config: a100-timeslice-spot\n      k8s.amazonaws.com/accelerator: "
          "nvidia-tesla-a100\n")

    proc = run_cli("check", "--repo", str(repo_copy), "--format", "json", "--schema-location", str(crd_schemas))
    assert proc.returncode == 1, proc.stderr + proc.stdout[-2000:]
    findings = [f for f in json.loads(proc.stdout)["findings"] if f["severity"] == "error"]

    def hits(rule: str, file: str) -> list[dict]:
        return [f for f in findings if f["rule"] == rule and f["file"] == file]

    cni = hits("policy/networkpolicy-not-enforced", PLATFORM_TF)
    assert {c for f in cni for c in f["clusters"]} == {"production", "staging"}, json.dumps(findings, indent=1)
    cni_line = (repo_copy / PLATFORM_TF).read_text().splitlines()[cni[0]["line"] - 1]
    assert "configuration_values" in cni_line and cni[0]["object"]["kind"] == "NetworkPolicy"

    (missing,) = hits("pool/autoscaler-gpu-label", PRODUCTION_POOLS)
    assert "h100-timeslice" in missing["message"] and missing["line"] < label_line
    (on_mig,) = hits("pool/autoscaler-gpu-label", STAGING_POOLS)
    assert on_mig["line"] == mig_line + 1 and "MIG" in on_mig["message"]
    (efa,) = hits("pool/efa", STAGING_POOLS)
    assert "a100-timeslice-spot" in efa["message"]
