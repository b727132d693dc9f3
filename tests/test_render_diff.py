"""scripts/render_diff.py: per-object diff of the rendered clusters between a base ref and HEAD."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import REPO_ROOT, copy_repo

SCRIPT = REPO_ROOT / "scripts" / "render_diff.py"
_spec = importlib.util.spec_from_file_location("render_diff", SCRIPT)
assert _spec and _spec.loader
render_diff = importlib.util.module_from_spec(_spec)
sys.modules["render_diff"] = render_diff
_spec.loader.exec_module(render_diff)

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "vllm", "namespace": "inference"}, "spec": {"replicas": 1}}


def side(label: str, *objects: dict, cluster: str = "production") -> object:
    result = render_diff.Side(label)
    for obj in objects:
        result.objects[render_diff.object_key(cluster, obj)] = render_diff.redact_secrets(obj)
    return result


def test_unchanged_objects_are_not_reported() -> None:
    assert render_diff.compare(side("base", DEPLOYMENT), side("HEAD", DEPLOYMENT)) == []


def test_changed_added_and_removed_objects() -> None:
    scaled = {**DEPLOYMENT, "spec": {"replicas": 3}}
    added = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "vllm", "namespace": "inference"}}
    removed = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old", "namespace": "inference"}}
    diffs = render_diff.compare(side("base", DEPLOYMENT, removed), side("HEAD", scaled, added))
    changes = {d.key[2]: d for d in diffs}
    assert {k: d.change for k, d in changes.items()} == {"Deployment": "changed", "Service": "added",
                                                         "ConfigMap": "removed"}
    deployment_diff = "\n".join(changes["Deployment"].diff)
    assert "-  replicas: 1" in deployment_diff and "+  replicas: 3" in deployment_diff
    assert render_diff.summary(diffs) == "1 changed, 1 added, 1 removed"


def test_an_api_version_bump_is_a_change_of_one_object() -> None:
    old = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "a"}}
    new = {**old, "apiVersion": "autoscaling/v2"}
    diffs = render_diff.compare(side("base", old), side("HEAD", new))
    assert [d.change for d in diffs] == ["changed"]


def test_secret_values_never_appear_but_their_change_does() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "a"},
              "data": {"token": "c2VjcmV0LW9uZQ=="}, "stringData": {"password": "hunter2"}}
    rotated = {**secret, "data": {"token": "c2VjcmV0LXR3bw=="}}
    diffs = render_diff.compare(side("base", secret), side("HEAD", rotated))
    text = render_diff.format_markdown(side("base"), side("HEAD"), diffs)
    assert [d.change for d in diffs] == ["changed"]
    assert "c2VjcmV0" not in text and "hunter2" not in text
    assert "<redacted sha256:" in text


def test_a_cluster_that_failed_to_render_is_reported_not_diffed() -> None:
    head = side("HEAD")
    head.errors["production"] = "error: clusters/production/x.yaml:3: invalid YAML"
    diffs = render_diff.compare(side("base", DEPLOYMENT), head)
    assert diffs == []  # not "everything removed"
    text = render_diff.format_text(side("base", DEPLOYMENT), head, diffs)
    assert "production did not render at HEAD: error: clusters/production/x.yaml:3" in text


def test_markdown_stays_under_the_comment_limit() -> None:
    many = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "namespace": "a"},
             "data": {"blob": "x" * 2000}} for i in range(100)]
    diffs = render_diff.compare(side("base"), side("HEAD", *many))
    text = render_diff.format_markdown(side("base"), side("HEAD"), diffs)
    assert len(text) < 65_536
    assert "more objects not shown" in text


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    return subprocess.run(["git", "-C", str(repo), *identity, *args], check=True, capture_output=True,
                          text=True).stdout


def test_end_to_end_on_a_git_copy_of_this_repository(tmp_path: Path, kustomize_bin: str) -> None:
    """The real `mlplatform render` at a committed base and at a modified working tree."""
    repo = copy_repo(tmp_path)
    (tmp_path / "shared").symlink_to(REPO_ROOT.parent / "shared")
    git(repo, "init", "--quiet", "--initial-branch", "main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "base")
    vars_file = repo / "clusters" / "production" / "cluster-vars.yaml"
    document = yaml.safe_load(vars_file.read_text())
    document["data"]["render_diff_marker"] = "changed-in-head"
    vars_file.write_text(yaml.safe_dump(document))
    result = subprocess.run([sys.executable, str(SCRIPT), "--base", "main", "--repo", str(repo)],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "MLPLATFORM_KUSTOMIZE": kustomize_bin})
    assert result.returncode == 0, result.stderr
    assert "did not render" not in result.stdout, result.stdout
    assert "1 changed, 0 added, 0 removed" in result.stdout, result.stdout
    assert "=== changed: production: ConfigMap flux-system/cluster-vars" in result.stdout
    assert "+  render_diff_marker: changed-in-head" in result.stdout
    assert git(repo, "worktree", "list").count("\n") == 1  # the temporary worktree is gone


def test_an_unknown_base_ref_is_a_clean_error(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "--quiet")
    result = subprocess.run([sys.executable, str(SCRIPT), "--base", "no-such-ref", "--repo", str(repo)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: git rev-parse") and "Traceback" not in result.stderr


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_formats_name_both_sides(fmt: str) -> None:
    formatter = render_diff.format_markdown if fmt == "markdown" else render_diff.format_text
    text = formatter(side("origin/main"), side("HEAD"), [])
    assert "origin/main" in text and "HEAD" in text
