"""Identical kustomize builds in one run execute once; any difference in their inputs runs them apart."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from mlplatform.config import Config
from mlplatform.render import (
    BuildMemo,
    FluxBuildOptions,
    KustomizeTool,
    SourceCache,
    build,
    find_kustomize,
    walk_kustomization,
)

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


def _reference_key(directory: Path, files: set[Path], options: FluxBuildOptions, tool: KustomizeTool) -> str:
    """The key as BuildMemo's docstring defines it, written plainly: every file by its path relative to the
    build root (ordered by that path, then by Path), its bytes' hash; the tool and the options before them."""
    digest = hashlib.sha256(repr(options).encode())
    digest.update(tool.identity().encode() + b"\0")
    digest.update("\0".join(tool.command(Path("@build-root@"))).encode())
    for relative, path in sorted((os.path.relpath(path, directory), path) for path in files):
        digest.update(relative.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest() + b"\0")
    return digest.hexdigest()


def test_the_key_is_every_file_a_build_reads_by_its_relative_path(tmp_path: Path) -> None:
    """Files below the build root, hidden ones, a base beside it, and files named through `../` in the
    build root's parent and grandparent (relative paths of only `..` parts, computed apart) all key it."""
    repo = _repo(tmp_path)
    apps, overlay = repo / "apps", repo / "apps" / "a"
    (overlay / ".hidden.env").write_text("X=1\n")
    (apps / "side.env").write_text("Y=1\n")  # in the build root's parent: relative path ../side.env
    (repo / "top.env").write_text("Z=1\n")  # and its grandparent: ../../top.env
    (overlay / "kustomization.yaml").write_text(
        "resources: [../base/web]\nconfigMapGenerator:\n  - name: settings\n    files: [settings.txt]\n"
        "    envs: [.hidden.env, ../side.env, ../../top.env]\n"
    )
    tool = KustomizeTool(path="/bin/true", flavour="kustomize", version="test")
    tree = walk_kustomization(repo, overlay)
    files = {p for d in (overlay, apps / "base" / "web") for p in d.iterdir()} | {apps / "side.env", repo / "top.env"}
    options = FluxBuildOptions(target_namespace="team")
    assert BuildMemo().key(overlay, tree, options, tool, repo) == _reference_key(overlay, files, options, tool)


def test_relative_paths_match_relpath_with_a_memo_per_directory() -> None:
    from mlplatform.render import _relative

    start = "/r/apps/a"
    paths = ["/r/apps/a/k.yaml", "/r/apps/a/.h", "/r/apps/a/sub/x", "/r/apps/b/x", "/r/apps/b/y", "/r/apps/x",
             "/r/apps/a", "/r/apps", "/r/x", "/x", "/r/apps/a-b/x", "/r/apps//b/./x", "/r/apps/b/../a/x",
             "//r/apps/a/x", "relative/x", "/r/apps/a/..", "/r/apps/a/."]
    parents: dict[str, str] = {}
    for path in paths + paths:  # the second pass is answered from the memo
        assert _relative(path, start, parents) == os.path.relpath(path, start), path


def test_a_runs_memo_parses_a_kustomization_once_with_the_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kustomize_bin: str
) -> None:
    from mlplatform import render

    repo = _repo(tmp_path)
    parsed: list[Path] = []
    for name in ("load_documents", "load_documents_fast"):
        loader = getattr(render, name)
        monkeypatch.setattr(render, name, lambda path, *args, _load=loader: parsed.append(path) or _load(path, *args))
    tool = find_kustomize(repo, Config(repo=repo, kustomize=kustomize_bin))
    cache = SourceCache()
    for cluster in ("a", "b"):
        directory = repo / "apps" / cluster
        tree = walk_kustomization(repo, directory, cluster, cache)
        assert cache.builds.key(directory, tree, FluxBuildOptions(), tool, repo) is not None
    assert len(parsed) == len(set(parsed)) == 4  # three kustomizations and the deployment, once each


def test_a_fifo_named_as_a_transformer_config_never_blocks_the_key(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    overlay = repo / "apps" / "a"
    (repo / "apps" / "pipes").mkdir()
    fifo = repo / "apps" / "pipes" / "pipe.yaml"
    os.mkfifo(fifo)
    (overlay / "kustomization.yaml").write_text("resources: [../base/web]\ntransformers: [../pipes/pipe.yaml]\n")
    tool = KustomizeTool(path="/bin/true", flavour="kustomize", version="test")
    keys: list[str | None] = []

    def compute() -> None:
        for memo in (SourceCache().builds, BuildMemo()):  # a run's memo, and one on its own
            keys.append(memo.key(overlay, walk_kustomization(repo, overlay), FluxBuildOptions(), tool, repo))

    worker = threading.Thread(target=compute, daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # a reader blocked in open(): a writer that closes at once gives it end of file
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=5)
        pytest.fail("the key blocked reading a FIFO")
    assert len(keys) == 2 and keys[0] == keys[1] is not None
