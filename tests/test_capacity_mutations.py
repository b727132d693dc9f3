"""A mutated copy of this repository: Triton gets a required pod anti-affinity on kubernetes.io/hostname, so its
ScaledObject's 12 replicas need 12 a100-mig nodes against the pool's max_size 4. `check` fails on Triton with
the anti-affinity named, and `plan` shows 12 nodes needed. The unmutated repository's DaemonSets are all in
the per-node overhead."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from helpers import REPO_ROOT, copy_repo, run_cli

pytestmark = pytest.mark.xdist_group("capacity-mutations")

TRITON = "apps/base/inference/triton/deployment.yaml"
SCALED_OBJECT = "apps/base/inference/triton/scaledobject.yaml"
POOL_FILE = "terraform/environments/production/node-pools.yaml"


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def _edit(path: Path, change: Any) -> None:
    yaml = _yaml()
    doc = yaml.load(path.read_text())
    change(doc)
    with path.open("w") as fh:
        yaml.dump(doc, fh)


@pytest.fixture(scope="module")
def mutated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = copy_repo(tmp_path_factory.mktemp("triton-anti-affinity"))

    def anti_affinity(doc: Any) -> None:
        spec = doc["spec"]["template"]["spec"]
        spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app.kubernetes.io/name": "triton"}},
             "topologyKey": "kubernetes.io/hostname"}]}}

    def max_12(doc: Any) -> None:
        doc["spec"]["maxReplicaCount"] = 12

    _edit(repo / TRITON, anti_affinity)
    _edit(repo / SCALED_OBJECT, max_12)
    return repo


def test_check_fails_on_triton_naming_the_anti_affinity(mutated: Path, crd_schemas: Path) -> None:
    proc = run_cli("check", "--repo", str(mutated), "--cluster", "production", "--format", "json",
                   "--schema-location", str(crd_schemas))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    errors = [f for f in findings if f["severity"] == "error"]
    on_triton = [f for f in errors if f["rule"] == "capacity/constraint" and f["file"] == TRITON]
    assert on_triton, errors
    (finding,) = on_triton
    assert finding["object"]["name"] == "triton" and "triton" in finding["message"]
    assert "podAntiAffinity" in finding["message"] and "kubernetes.io/hostname" in finding["message"]
    assert "12 nodes of pool a100-mig, max_size is 4" in finding["message"]
    max_size = [f for f in errors if f["rule"] == "capacity/max-size"]
    assert [f["file"] for f in max_size] == [POOL_FILE] and "needs 12 nodes" in max_size[0]["message"]
    # Nothing else broke: every error is about the capacity Triton's anti-affinity takes.
    assert {f["rule"] for f in errors} == {"capacity/constraint", "capacity/max-size"}


def test_plan_shows_12_nodes_needed_against_a_max_of_4(mutated: Path, kustomize_bin: str) -> None:
    proc = run_cli("plan", "--repo", str(mutated), "--cluster", "production", "--format", "json",
                   env={"MLPLATFORM_KUSTOMIZE": kustomize_bin})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (cluster,) = json.loads(proc.stdout)["clusters"]
    mig = next(p for p in cluster["pools"] if p["pool"] == "a100-mig")
    assert mig["nodes_needed"]["max_demand"] == 12 and mig["lower_bound"]["max_demand"] == 12
    assert mig["nodes_configured"]["max"] == 4 and cluster["fits"] is False
    assert "Deployment inference/triton" in mig["binding_constraint"]["max_demand"]
    triton = next(w for w in mig["workloads"] if w["workload"] == "Deployment inference/triton")
    assert triton["max_replicas"] == 12 and any("podAntiAffinity" in c for c in triton["constraints"])
    text = run_cli("plan", "--repo", str(mutated), "--cluster", "production",
                   env={"MLPLATFORM_KUSTOMIZE": kustomize_bin}).stdout
    assert "a100-mig" in text and "2 / 12" in text and "maximum demand needs 12 nodes, max_size is 4" in text


NODE_AGENT = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-agent
  namespace: kube-system
spec:
  selector:
    matchLabels: {app: node-agent}
  template:
    metadata:
      labels: {app: node-agent}
    spec:
      tolerations:
        - {key: gpu, operator: Exists}
      containers:
        - name: agent
          image: example/agent:1
          resources:
            requests: {cpu: 250m, memory: 256Mi}
"""


def test_every_rendered_daemonset_is_in_the_node_overhead(tmp_path: Path, kustomize_bin: str) -> None:
    # The repository's node agents come from Helm charts, which are not rendered offline; a plain DaemonSet
    # added to the rendered configs must show up on every node of the pools it tolerates.
    repo = copy_repo(tmp_path)
    where = repo / "infrastructure/configs/base/priority-classes"
    (where / "node-agent.yaml").write_text(NODE_AGENT)
    kustomization = where / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - node-agent.yaml\n")
    env = {"MLPLATFORM_KUSTOMIZE": kustomize_bin}
    before = run_cli("plan", "--repo", str(REPO_ROOT), "--cluster", "production", "--format", "json", env=env)
    after = run_cli("plan", "--repo", str(repo), "--cluster", "production", "--format", "json", env=env)
    base = {p["pool"]: p for p in json.loads(before.stdout)["clusters"][0]["pools"]}
    for p in json.loads(after.stdout)["clusters"][0]["pools"]:
        name = p["pool"]
        spot = name == "a100-timeslice-spot"  # its spot=true taint is not tolerated
        assert ("DaemonSet kube-system/node-agent" in p["daemonsets"]) is not spot, name
        extra = {"cpu": 0, "pods": 0} if spot else {"cpu": 250, "pods": 1}
        for resource, amount in extra.items():
            assert p["daemonset_overhead_per_node"].get(resource, 0) == (
                base[name]["daemonset_overhead_per_node"].get(resource, 0) + amount
            )
        assert p["node_allocatable"]["cpu"] == base[name]["node_allocatable"]["cpu"] - extra["cpu"]


def test_max_size_names_the_workload_that_grew_first(tmp_path: Path, crd_schemas: Path) -> None:
    # a newcomer raised triton's maxReplicaCount to 200; the finding listed four Deployments alphabetically,
    # with nothing saying which one grew
    repo = copy_repo(tmp_path)
    scaled = repo / "apps/base/inference/triton/scaledobject.yaml"
    scaled.write_text(scaled.read_text().replace("maxReplicaCount: 12", "maxReplicaCount: 200"))
    proc = run_cli("check", "--repo", str(repo), "--cluster", "production", "--format", "json",
                   "--schema-location", str(crd_schemas))
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr
    (finding,) = [f for f in json.loads(proc.stdout)["findings"] if f["rule"] == "capacity/max-size"]
    listed = finding["message"].split("lower the maximum replicas of: ", 1)[1]
    assert listed.startswith("Deployment inference/triton (up to 200, "), listed


def test_max_size_below_min_size_is_one_finding(tmp_path: Path, crd_schemas: Path) -> None:
    # a newcomer lowered a100-mig's max_size to 1: pool/sizes and capacity/max-size, both at that line
    repo = copy_repo(tmp_path)
    pools = repo / POOL_FILE
    text = pools.read_text()
    start = text.index("  a100-mig:")
    at = text.index("max_size: 4", start)
    pools.write_text(text[:at] + "max_size: 1" + text[at + len("max_size: 4"):])
    line = text[:at].count("\n") + 1
    proc = run_cli("check", "--repo", str(repo), "--cluster", "production", "--format", "json",
                   "--schema-location", str(crd_schemas))
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr
    errors = [f for f in json.loads(proc.stdout)["findings"] if f["severity"] == "error"]
    assert [(f["rule"], f["file"], f["line"]) for f in errors] == [("pool/sizes", POOL_FILE, line)], errors
    assert "1 more finding(s) follow from it" in errors[0]["message"] and "capacity/max-size" in errors[0]["message"]
