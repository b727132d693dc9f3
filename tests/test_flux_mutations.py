"""The Flux faults of issue 11, reintroduced into a copy of this repository: `check` must fail on each, at the
file a person changes.

- infra-configs waiting 5m for HelmReleases that allow themselves 10m (rule flux-timeout-shorter-than-helmrelease);
- the Flux bootstrap without StrictPostBuildSubstitutions (rule flux-strict-substitutions), which also turns
  the flux/substitute-unset message into what Flux then does: apply an empty string.

One `check` of one copy carries the three mutations (a full check is most of this test's time).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers import run_cli

pytestmark = pytest.mark.xdist_group("flux-mutations")

INFRA = "clusters/production/infrastructure.yaml"
BOOTSTRAP = "terraform/modules/flux-bootstrap/main.tf"
CLUSTER_VARS = "clusters/production/cluster-vars.yaml"
GATE = '"--feature-gates=StrictPostBuildSubstitutions=true"'


def _replace(repo: Path, rel: str, pattern: str, replacement: str) -> int:
    """Replace the one match of `pattern` in a file; returns its 1-based line."""
    path = repo / rel
    text = path.read_text()
    matches = list(re.finditer(pattern, text, flags=re.MULTILINE))
    assert len(matches) == 1, (rel, pattern, len(matches))
    path.write_text(text[: matches[0].start()] + replacement + text[matches[0].end() :])
    return text.count("\n", 0, matches[0].start()) + 1


def test_flux_faults_fail_check_at_the_mutated_files(repo_copy: Path, crd_schemas: Path) -> None:
    # infra-configs is the second Kustomization of the file; its timeout is the one after "name: infra-configs".
    text = (repo_copy / INFRA).read_text()
    offset = text.index("name: infra-configs")
    head, tail = text[:offset], text[offset:]
    tail = re.sub(r"^  timeout: \S+$", "  timeout: 5m", tail, count=1, flags=re.MULTILINE)
    (repo_copy / INFRA).write_text(head + tail)
    timeout_line = (head + tail).splitlines().index("  timeout: 5m") + 1
    gate_line = _replace(repo_copy, BOOTSTRAP, re.escape(GATE), '"--log-level=info"')
    _replace(repo_copy, CLUSTER_VARS, r'^  vpc_id: ".*"\n', "")

    proc = run_cli("check", "--repo", str(repo_copy), "--format", "json", "--schema-location", str(crd_schemas))
    assert proc.returncode == 1, proc.stderr + proc.stdout[-2000:]
    findings = json.loads(proc.stdout)["findings"]

    [short] = [f for f in findings if f["rule"] == "policy/flux-timeout-shorter-than-helmrelease"]
    assert (short["file"], short["line"], short["severity"]) == (INFRA, timeout_line, "error")
    assert short["object"]["name"] == "infra-configs" and "HelmRelease linkerd-viz/linkerd-viz" in short["message"]

    gate = [f for f in findings if f["rule"] == "policy/flux-strict-substitutions"]
    assert {c for f in gate for c in f["clusters"]} == {"production", "staging"}  # both bootstrap through the module
    assert all(f["file"] == BOOTSTRAP and f["severity"] == "error" for f in gate)
    assert all(f["line"] < gate_line for f in gate)  # at the helm_release, above where the flag was

    [unset] = [f for f in findings if f["rule"] == "flux/substitute-unset"]
    assert unset["cluster"] == "production" and "'vpc_id'" in unset["message"]
    assert f"runs without StrictPostBuildSubstitutions ({BOOTSTRAP}:" in unset["message"]
    assert "applies an empty string" in unset["message"]
