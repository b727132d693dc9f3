"""Identical kustomize builds in one run execute once; any difference in their inputs runs them apart."""

from __future__ import annotations

from pathlib import Path

from mlplatform.config import Config
from mlplatform.render import BuildMemo, FluxBuildOptions, build, find_kustomize, walk_kustomization

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.27"}]
"""


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "apps" / "base" / "web").mkdir(parents=True)
    (repo / "apps" / "base" / "web" / "deployment.yaml").write_text(DEPLOYMENT)
    (repo / "apps" / "base" / "web" / "kustomization.yaml").write_text("resources: [deployment.yaml]\n")
    for cluster in ("a", "b"):
        overlay = repo / "apps" / cluster
        overlay.mkdir()
        (overlay / "kustomization.yaml").write_text(
            "resources: [../base/web]\nconfigMapGenerator:\n  - name: settings\n    files: [settings.txt]\n"
        )
        (overlay / "settings.txt").write_text("level=info\n")
    return repo


def _build(repo: Path, cluster: str, memo: BuildMemo, kustomize_bin: str, options=None):
    tool = find_kustomize(repo, Config(repo=repo, kustomize=kustomize_bin))
    directory = repo / "apps" / cluster
    tree = walk_kustomization(repo, directory)
    result = build(tool, repo, directory, tree, options or FluxBuildOptions(), memo=memo)
    assert not result.findings, result.findings
    return [doc.text for doc in result.docs]


def test_identical_builds_share_one_run(tmp_path: Path, kustomize_bin: str) -> None:
    repo, memo = _repo(tmp_path), BuildMemo()
    first = _build(repo, "a", memo, kustomize_bin)
    second = _build(repo, "b", memo, kustomize_bin)
    assert memo.hits == 1
    assert first == second and any("kind: Deployment" in text for text in first)


def test_a_changed_generator_input_is_built_apart(tmp_path: Path, kustomize_bin: str) -> None:
    repo, memo = _repo(tmp_path), BuildMemo()
    (repo / "apps" / "b" / "settings.txt").write_text("level=debug\n")
    first = _build(repo, "a", memo, kustomize_bin)
    second = _build(repo, "b", memo, kustomize_bin)
    assert memo.hits == 0
    assert any("level=info" in t for t in first) and any("level=debug" in t for t in second)


def test_a_changed_overlay_or_flux_option_is_built_apart(tmp_path: Path, kustomize_bin: str) -> None:
    repo, memo = _repo(tmp_path), BuildMemo()
    kfile = repo / "apps" / "b" / "kustomization.yaml"
    kfile.write_text(kfile.read_text() + "namePrefix: b-\n")
    _build(repo, "a", memo, kustomize_bin)
    prefixed = _build(repo, "b", memo, kustomize_bin)
    assert memo.hits == 0 and any("name: b-web" in t for t in prefixed)
    namespaced = _build(repo, "a", memo, kustomize_bin, FluxBuildOptions(target_namespace="team-x"))
    assert memo.hits == 0 and any("namespace: team-x" in t for t in namespaced)


def test_a_walk_is_shared_but_each_caller_gets_its_own_copy_naming_its_cluster(tmp_path: Path):
    from mlplatform.render import SourceCache, walk_components

    repo = _repo(tmp_path)
    overlay = repo / "apps" / "a"
    (overlay / "kustomization.yaml").write_text("resources: [../base/web, missing.yaml]\n")
    cache = SourceCache()
    first = walk_kustomization(repo, overlay, "a", cache)
    second = walk_kustomization(repo, overlay, "b", cache)
    assert list(cache.walks) == [(repo, overlay)]  # walked once (the base it reaches is part of that walk)
    assert [(f.rule, f.cluster) for f in first.findings] == [("render/missing-reference", "a")]
    assert [(f.rule, f.cluster) for f in second.findings] == [("render/missing-reference", "b")]
    assert first.resource_files == second.resource_files
    # a caller that adds to its tree (walk_components does) changes neither the memo nor the other copies
    component = repo / "apps" / "component"
    component.mkdir()
    (component / "kustomization.yaml").write_text("kind: Component\nresources: [extra.yaml]\n")
    (component / "extra.yaml").write_text(DEPLOYMENT.replace("name: web}", "name: extra}", 1))
    walk_components(repo, first, overlay, ["../component"], "apps/a/kustomization.yaml", 1, "a", cache)
    assert component / "extra.yaml" in first.resource_files
    assert component / "extra.yaml" not in second.resource_files
    assert component / "extra.yaml" not in walk_kustomization(repo, overlay, "c", cache).resource_files
