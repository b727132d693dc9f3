"""This repository's HelmReleases rendered from a chart cache (issue 18): the fluent-bit release, from a stand-in
chart of the same name and version written for the tests (tests/fixtures/charts/fluent-bit-standin), is
validated against the schemas, and its DaemonSet is overhead on every pool it tolerates in the capacity plan.
Faults reintroduced into a copy: a rendered object that fails its schema, a valuesFrom that nothing renders.

One `check` and one `plan` of the copy carry both faults (a check of the whole repository is the slow part).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import edit_copy, run_cli
from mlplatform import helm

pytestmark = pytest.mark.xdist_group("mutated-copies")

STANDIN = Path(__file__).parent / "fixtures" / "charts" / "fluent-bit-standin"
FLUENT_BIT = "infrastructure/controllers/base/fluent-bit/helmrelease.yaml"
KEDA = "infrastructure/controllers/base/keda/helmrelease.yaml"


def test_release_from_chart_cache_is_validated_planned_and_faults_found(
    repo_copy: Path, crd_schemas: Path, kustomize_bin: str, tmp_path: Path
) -> None:
    cache = tmp_path / "charts"
    shutil.copytree(STANDIN, helm.cache_path(cache, "https://fluent.github.io/helm-charts", "fluent-bit", "0.58.1"))
    env = {helm.CACHE_ENV: str(cache), "MLPLATFORM_KUSTOMIZE": kustomize_bin}
    # fault 1: a value the chart writes into the DaemonSet where the schema wants a string
    priority = edit_copy(repo_copy, FLUENT_BIT, "    priorityClassName: system-node-critical\n",
                         "    priorityClassName: 5\n")
    # fault 2: keda reads values from a ConfigMap that no Kustomization renders (not optional)
    values_from = edit_copy(repo_copy, KEDA, "  values:\n    crds:\n",
                            "  valuesFrom:\n    - kind: ConfigMap\n      name: keda-extra-values\n"
                            "  values:\n    crds:\n") + 1

    proc = run_cli("check", "--repo", str(repo_copy), "--format", "json", "--schema-location", str(crd_schemas),
                   "--min-severity", "info", env=env)
    assert proc.returncode == 1, proc.stderr + proc.stdout[-2000:]
    findings = json.loads(proc.stdout)["findings"]
    errors = [f for f in findings if f["severity"] == "error"]

    # the chart's DaemonSet went through schema validation; the finding points at the HelmRelease
    schema = [f for f in errors if f["object"] and f["object"]["kind"] == "DaemonSet"
              and f["object"]["name"] == "fluent-bit"]
    assert schema and all(f["file"] == FLUENT_BIT for f in schema), errors
    assert any("priorityClassName" in f["message"] for f in schema), schema
    assert priority > 1

    missing = [f for f in errors if f["rule"] == helm.VALUES_FROM_MISSING]
    assert {(f["file"], f["line"]) for f in missing} == {(KEDA, values_from)}, missing
    assert "ConfigMap keda/keda-extra-values" in missing[0]["message"]
    # nothing else failed: the other releases' charts are not in the cache, which is an info
    assert {f["rule"] for f in errors} <= {helm.VALUES_FROM_MISSING} | {f["rule"] for f in schema}, errors
    unavailable = {f["object"]["name"] for f in findings if f["rule"] == helm.CHART_UNAVAILABLE}
    assert "fluent-bit" not in unavailable and "gpu-operator" in unavailable

    plan = run_cli("plan", "--repo", str(repo_copy), "--cluster", "staging", "--format", "json", env=env)
    assert plan.returncode in (0, 1), plan.stderr
    (cluster,) = json.loads(plan.stdout)["clusters"]
    pools = {p["pool"]: p for p in cluster["pools"]}
    # fluent-bit tolerates the GPU and spot taints: its requests are overhead on every node of every pool
    for pool in pools.values():
        assert "DaemonSet logging/fluent-bit" in pool["daemonsets"], pool["pool"]
        assert pool["daemonset_overhead_per_node"]["cpu"] >= 100
    not_rendered = {r["release"]: r for r in cluster["helm_releases_not_rendered"]}
    assert "logging/fluent-bit" not in not_rendered
    assert not_rendered["keda/keda"]["rule"] == helm.VALUES_FROM_MISSING
    assert not_rendered["gpu-operator/gpu-operator"]["rule"] == helm.CHART_UNAVAILABLE
