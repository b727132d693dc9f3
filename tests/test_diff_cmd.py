"""`mlplatform diff --base REF`: rendered objects added, removed and changed, the plan change, and exit 2 when a
side does not render (never "0 changed")."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import copy_repo, run_cli
from mlplatform import renderdiff
from mlplatform.renderdiff import DiffReport, compare, object_key, redact_secrets

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "vllm", "namespace": "inference"}, "spec": {"replicas": 1}}


def side(*objects: dict, cluster: str = "production") -> dict:
    return {object_key(cluster, obj): redact_secrets(obj) for obj in objects}


# ---------------------------------------------------------------- the comparison, as functions


def test_an_api_version_bump_is_a_change_of_one_object() -> None:
    old = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "a"}}
    assert [d.change for d in compare(side(old), side({**old, "apiVersion": "autoscaling/v2"}), "base")] == [
        "changed"]


def test_secret_values_never_appear_but_their_change_does() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "a"},
              "data": {"token": "c2VjcmV0LW9uZQ=="}, "stringData": {"password": "hunter2"}}
    rotated = {**secret, "data": {"token": "c2VjcmV0LXR3bw=="}}
    diffs = compare(side(secret), side(rotated), "base")
    text = renderdiff.format_markdown(DiffReport("main", "0" * 40, diffs, None))
    assert [d.change for d in diffs] == ["changed"]
    assert "c2VjcmV0" not in text and "hunter2" not in text and "<redacted sha256:" in text


def test_markdown_stays_under_the_comment_limit() -> None:
    many = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "namespace": "a"},
             "data": {"blob": "x" * 2000}} for i in range(100)]
    text = renderdiff.format_markdown(DiffReport("main", "0" * 40, compare(side(), side(*many), "base"), None))
    assert len(text) < 65_536 and "more objects not shown" in text


# ---------------------------------------------------------------- the command on a git copy of this repository


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    return subprocess.run(["git", "-C", str(repo), *identity, *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = copy_repo(tmp_path)
    git(repo, "init", "--quiet", "--initial-branch", "main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "base")
    return repo


def edit(repo: Path, rel: str, old: str, new: str) -> None:
    path = repo / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1))


def test_changed_added_and_removed_objects_and_the_plan_change(git_repo: Path) -> None:
    repo = git_repo
    # changed: a value of the production cluster-vars ConfigMap
    vars_file = repo / "clusters/production/cluster-vars.yaml"
    document = yaml.safe_load(vars_file.read_text())
    document["data"]["diff_marker"] = "changed-in-head"
    vars_file.write_text(yaml.safe_dump(document))
    # added: a ConfigMap in production's apps; removed: vLLM's ScaledObject in the shared base (both clusters)
    (repo / "apps/production/diff-added.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: diff-added\n  namespace: mlops\ndata:\n  a: b\n")
    edit(repo, "apps/production/kustomization.yaml", "  - ../base/mlops\n", "  - ../base/mlops\n  - diff-added.yaml\n")
    so = repo / "apps/base/inference/vllm/scaledobject.yaml"
    so.unlink()
    edit(repo, "apps/base/inference/vllm/kustomization.yaml", "  - scaledobject.yaml\n", "")
    # plan: the MIG pool of production may grow
    edit(repo, "terraform/environments/production/node-pools.yaml", "    max_size: 4\n    desired_size: 2\n",
         "    max_size: 6\n    desired_size: 2\n")

    proc = run_cli("diff", "--base", "main", "--repo", str(repo), "--format", "json", "--time-limit", "0.2")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    changes = {(o["cluster"], o["kind"], o["name"]): o["change"] for o in report["objects"]}
    assert changes == {
        ("production", "ConfigMap", "cluster-vars"): "changed",
        ("production", "ConfigMap", "diff-added"): "added",
        ("production", "ScaledObject", "vllm"): "removed",
        ("staging", "ScaledObject", "vllm"): "removed",
    }
    assert report["summary"] == "1 changed, 1 added, 2 removed"
    marker = next(o for o in report["objects"] if o["name"] == "cluster-vars")
    assert "+  diff_marker: changed-in-head" in marker["diff"]
    production = next(c for c in report["plan"] if c["cluster"] == "production")
    mig = next(p for p in production["pools"] if p["pool"] == "a100-mig")
    assert mig["status"] == "changed" and mig["nodes_configured"]["max"] == {"base": 4, "head": 6, "delta": 2}
    staging = next(c for c in report["plan"] if c["cluster"] == "staging")
    staging_mig = next(p for p in staging["pools"] if p["pool"] == "a100-mig")
    assert staging_mig["nodes_configured"]["max"]["delta"] == 0  # only production's pool file changed
    assert git(repo, "worktree", "list").count("\n") == 1  # the temporary worktree is gone

    text = run_cli("diff", "--base", "main", "--repo", str(repo), "--no-plan").stdout
    assert text.startswith("Rendered objects main (") and "1 changed, 1 added, 2 removed" in text.splitlines()[0]
    assert "=== added: production: ConfigMap mlops/diff-added" in text
    assert "=== removed: staging: ScaledObject.keda.sh inference/vllm" in text
    assert "Capacity change" not in text


def test_a_side_that_does_not_render_is_exit_2_not_zero_changes(git_repo: Path) -> None:
    edit(git_repo, "apps/base/inference/vllm/kustomization.yaml", "resources:\n", "resources:\n  - nowhere.yaml\n")
    proc = run_cli("diff", "--base", "main", "--repo", str(git_repo), "--no-plan")
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line.startswith("error: cannot render cluster production at the working tree: ")
    assert "apps/base/inference/vllm/kustomization.yaml" in line and "Traceback" not in proc.stderr
    # the same mistake committed as the base fails on that side
    git(git_repo, "commit", "--quiet", "-am", "broken")
    git(git_repo, "revert", "--no-edit", "--quiet", "HEAD")
    proc = run_cli("diff", "--base", "HEAD~1", "--repo", str(git_repo), "--no-plan")
    assert proc.returncode == 2 and "at HEAD~1:" in proc.stderr


def test_an_unknown_base_ref_is_exit_2(git_repo: Path) -> None:
    proc = run_cli("diff", "--base", "no-such-ref", "--repo", str(git_repo))
    assert proc.returncode == 2 and proc.stderr.strip() == "error: unknown git ref 'no-such-ref'"


def test_the_plan_change_says_the_branch_s_plan_is_incomplete_with_pool_file_errors(git_repo: Path) -> None:
    # A zone name in a pool file (pool/zone-id in `check`): the plan of the working tree is made of pools
    # `check` refuses, so its change is no real saving or cost, and the heading says so before the figures.
    rel = "terraform/environments/staging/node-pools.yaml"
    text = (git_repo / rel).read_text()
    line = text[: text.index("zones: [use1-az1]")].count("\n") + 1
    edit(git_repo, rel, "zones: [use1-az1]", "zones: [us-east-1a]")
    proc = run_cli("diff", "--base", "main", "--repo", str(git_repo), "--cluster", "staging", "--time-limit", "0.2")
    assert proc.returncode == 0, proc.stderr  # diff's contract: the report is written
    head = next(x for x in proc.stdout.splitlines() if x.startswith("staging: "))
    assert head.startswith(f"staging: this branch's plan is incomplete, 1 pool-file error ({rel}:{line} "
                           "pool/zone-id): the pools are planned as written, which `check` refuses; so the "
                           "change below is not a real saving or cost: "), head
    body = json.loads(run_cli("diff", "--base", "main", "--repo", str(git_repo), "--cluster", "staging",
                              "--format", "json", "--time-limit", "0.2").stdout)
    [staging] = body["plan"]
    assert staging["complete"] == {"base": True, "head": False}
    assert [(e["rule"], e["line"]) for e in staging["input_errors"]["head"]] == [("pool/zone-id", line)]
    assert staging["input_errors"]["base"] == []
