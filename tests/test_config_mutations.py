"""Issue 17's faults reintroduced into a copy of this repository: `check` exits 1 (not 2, not an internal
error) with a finding at each mutated file and line, and the JSON report is still produced.

One check of the copy carries the three mutations (a check of the whole repository is the slow part):
- policies/workload-checks.yaml: `min_backoff_limit: one` (crashed as "internal error" before);
- .mlplatform.yaml: a misspelt key (silently accepted before);
- the staging pool file names a Kubernetes version without bundled schemas (exit 2 for the whole run before).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import edit_copy, run_cli

pytestmark = pytest.mark.xdist_group("mutated-copies")

POLICY = "policies/workload-checks.yaml"
CONFIG = ".mlplatform.yaml"
POOLS = "terraform/environments/staging/node-pools.yaml"


def test_reintroduced_typing_faults_are_findings_at_their_lines(repo_copy: Path, crd_schemas: Path) -> None:
    policy_line = edit_copy(repo_copy, POLICY, "  min_backoff_limit: 1\n", "  min_backoff_limit: one\n")
    config_line = edit_copy(repo_copy, CONFIG, "strict: true\n", "strict: true\nstrickt: false\n") + 1
    pools_line = edit_copy(repo_copy, POOLS, 'kubernetes_version: "1.34"\n', 'kubernetes_version: "1.2"\n')

    proc = run_cli("check", "--repo", str(repo_copy), "--format", "json", "--schema-location", str(crd_schemas))
    assert proc.returncode == 1, proc.stderr + proc.stdout[-2000:]
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    located = {(f["rule"], f["file"], f["line"]) for f in findings}

    assert ("policy/invalid-parameter", POLICY, policy_line) in located, sorted(located)
    [backoff] = [f for f in findings if f["rule"] == "policy/invalid-parameter"]
    assert "restart.min_backoff_limit" in backoff["message"] and "'one'" in backoff["message"]
    # one finding for both clusters (consolidated), not one per cluster
    assert set(backoff["clusters"]) == {"production", "staging"}

    assert ("config/unknown-key", CONFIG, config_line) in located, sorted(located)
    [unknown] = [f for f in findings if f["rule"] == "config/unknown-key"]
    assert "did you mean 'strict'" in unknown["message"]

    assert ("pool/file-invalid", POOLS, pools_line) in located, sorted(located)
    [version] = [f for f in findings if f["rule"] == "pool/file-invalid" and f["file"] == POOLS]
    assert "kubernetes_version" in version["message"] and "bundled" in version["message"]
