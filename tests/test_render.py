"""The kustomize runner: binary discovery, offline walking of kustomization trees, builds and their errors."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import run_cli
from mlplatform.cluster_render import render_cluster
from mlplatform.config import Config, load_config
from mlplatform.errors import ToolError
from mlplatform.render import (
    FluxBuildOptions,
    RenderedDoc,
    build,
    find_kustomize,
    split_documents,
    walk_kustomization,
)

FIXTURE = Path(__file__).parent / "fixtures" / "repos" / "flux-basic"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "flux-basic"
    shutil.copytree(FIXTURE, target)
    return target


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


KUST = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n"


def test_discovery_prefers_the_environment_then_the_caller(kustomize_bin: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MLPLATFORM_KUSTOMIZE", kustomize_bin)
    tool = find_kustomize(tmp_path, Config(repo=tmp_path))
    assert Path(tool.path).resolve() == Path(shutil.which(kustomize_bin) or kustomize_bin).resolve()
    assert "kustomize v" in tool.version
    # the environment (the set-up's choice) wins over any binary a caller passes along
    tool = find_kustomize(tmp_path, Config(repo=tmp_path, kustomize=str(tmp_path / "no-such-kubectl")))
    assert Path(tool.path).resolve() == Path(shutil.which(kustomize_bin) or kustomize_bin).resolve()
    monkeypatch.delenv("MLPLATFORM_KUSTOMIZE")
    with pytest.raises(ToolError, match="not found"):
        find_kustomize(tmp_path, Config(repo=tmp_path, kustomize=str(tmp_path / "no-such-kubectl")))


def test_the_set_ups_pinned_kubectl_comes_before_one_on_path(kustomize_bin: str, tmp_path: Path, monkeypatch) -> None:
    # a laptop's or a CI runner's kubectl must not decide what renders when the set-up has provided the pinned one
    real = Path(shutil.which(kustomize_bin) or kustomize_bin).resolve()
    setup_bin, path_bin = tmp_path / "set-up", tmp_path / "on-path"
    for folder in (setup_bin, path_bin):
        folder.mkdir()
        (folder / "kubectl").symlink_to(real)
    monkeypatch.delenv("MLPLATFORM_KUSTOMIZE", raising=False)
    monkeypatch.setenv("PATH", str(path_bin))
    monkeypatch.setattr("mlplatform.render.SETUP_BIN", setup_bin)
    assert find_kustomize(tmp_path, Config(repo=tmp_path)).path == str(setup_bin / "kubectl")
    monkeypatch.setattr("mlplatform.render.SETUP_BIN", tmp_path / "no-set-up")  # no set-up: PATH's is used
    assert find_kustomize(tmp_path, Config(repo=tmp_path)).path == str(path_bin / "kubectl")


def test_a_kubectl_committed_into_the_repository_is_never_run(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / ".tools" / "bin" / "kubectl"
    fake.parent.mkdir(parents=True)
    fake.write_text(f"#!/bin/sh\ntouch {tmp_path}/pwned\n")
    fake.chmod(0o755)
    monkeypatch.delenv("MLPLATFORM_KUSTOMIZE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr("mlplatform.render.SETUP_BIN", tmp_path / "no-set-up")
    with pytest.raises(ToolError, match="no kustomize found"):
        find_kustomize(tmp_path, Config(repo=tmp_path))
    assert not (tmp_path / "pwned").exists()


def test_missing_kustomize_is_a_tool_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLPLATFORM_KUSTOMIZE", raising=False)
    monkeypatch.setattr("mlplatform.render.SETUP_BIN", tmp_path / "no-set-up")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match="no kustomize found"):
        find_kustomize(tmp_path, Config(repo=tmp_path))


def test_remote_bases_are_refused_before_running(tmp_path: Path) -> None:
    write(
        tmp_path / "k/kustomization.yaml",
        KUST + "resources:\n  - https://github.com/org/repo//deploy?ref=v1\n  - github.com/org/repo/base\n",
    )
    tree = walk_kustomization(tmp_path, tmp_path / "k")
    assert [(f.rule, f.line) for f in tree.findings] == [
        ("render/remote-reference", 4),
        ("render/remote-reference", 5),
    ]
    assert tree.blocking


def test_missing_and_escaping_references(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside / "cm.yaml", CM.format(name="x"))
    repo = tmp_path / "repo"
    write(
        repo / "k/kustomization.yaml",
        KUST + "resources:\n  - missing.yaml\n  - ../../outside/cm.yaml\n  - ../../outside\n"
        "configMapGenerator:\n  - name: g\n    files:\n      - key=../../outside/cm.yaml\n",
    )
    tree = walk_kustomization(repo, repo / "k")
    got = [(f.rule, f.file, f.line) for f in tree.findings]
    assert got == [
        ("render/missing-reference", "k/kustomization.yaml", 4),
        ("render/outside-repository", "k/kustomization.yaml", 5),
        ("render/outside-repository", "k/kustomization.yaml", 6),
        ("render/outside-repository", "k/kustomization.yaml", 8),
    ]


def test_helm_inside_kustomize_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path / "k/kustomization.yaml", KUST + "helmCharts:\n  - name: x\n    repo: https://example.com\n"
    )
    tree = walk_kustomization(tmp_path, tmp_path / "k")
    assert [f.rule for f in tree.findings] == ["render/helm-in-kustomize"]


def test_tree_follows_bases_components_patches_generators(repo: Path) -> None:
    tree = walk_kustomization(repo, repo / "apps/demo")
    assert tree.findings == []
    assert sorted(p.relative_to(repo).as_posix() for p in tree.resource_files) == [
        "apps/base/deployment.yaml",
        "apps/base/scripts.yaml",
        "apps/base/widget.yaml",
        "apps/demo/namespace.yaml",
    ]
    assert tree.name_prefixes == {"demo-"}
    assert [(g.kind, g.name, g.line) for g in tree.generators] == [("ConfigMap", "app-settings", 8)]


def test_kustomize_error_becomes_a_finding_with_the_file(kustomize_bin: str, tmp_path: Path) -> None:
    write(tmp_path / "k/a.yaml", CM.format(name="same"))
    write(tmp_path / "k/b.yaml", CM.format(name="same"))
    write(tmp_path / "k/kustomization.yaml", KUST + "resources:\n  - a.yaml\n  - b.yaml\n")
    tool = find_kustomize(tmp_path, Config(repo=tmp_path, kustomize=kustomize_bin))
    tree = walk_kustomization(tmp_path, tmp_path / "k")
    result = build(tool, tmp_path, tmp_path / "k", tree, FluxBuildOptions())
    [finding] = result.findings
    assert finding.rule == "render/kustomize-error"
    assert finding.file == "k/kustomization.yaml"
    assert "already registered id" in finding.message or "conflict" in finding.message


def test_files_outside_the_kustomization_folder_are_read_as_flux_does(kustomize_bin: str, tmp_path: Path) -> None:
    # Flux's kustomize-controller builds with LoadRestrictionsNone (fluxcd/pkg kustomize_generator.go):
    # a patch and a resource file in a sibling folder are read, with and without a Flux overlay around it
    write(
        tmp_path / "common/patch.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  c: d\n",
    )
    write(tmp_path / "common/extra.yaml", CM.format(name="extra"))
    write(tmp_path / "k/cm.yaml", CM.format(name="x"))
    write(
        tmp_path / "k/kustomization.yaml",
        KUST + "resources:\n  - cm.yaml\n  - ../common/extra.yaml\npatches:\n  - path: ../common/patch.yaml\n",
    )
    tool = find_kustomize(tmp_path, Config(repo=tmp_path, kustomize=kustomize_bin))
    tree = walk_kustomization(tmp_path, tmp_path / "k")
    assert tree.findings == []
    for options in (FluxBuildOptions(), FluxBuildOptions(target_namespace="ns")):
        result = build(tool, tmp_path, tmp_path / "k", tree, options)
        assert result.findings == []
        by_name = {doc.obj["metadata"]["name"]: doc.obj for doc in result.docs}
        assert sorted(by_name) == ["extra", "x"]
        assert by_name["x"]["data"]["c"] == "d"


def test_a_file_outside_the_source_root_is_refused_before_kustomize_runs(tmp_path: Path) -> None:
    # the guarantee Flux gets from its secure filesystem: nothing outside the source root is read
    root = tmp_path / "repo"
    write(tmp_path / "secret.yaml", CM.format(name="outside"))
    write(root / "k/kustomization.yaml", KUST + "resources:\n  - ../../secret.yaml\n")
    tree = walk_kustomization(root, root / "k")
    assert [f.rule for f in tree.findings] == ["render/outside-repository"]
    assert tree.findings[0].file == "k/kustomization.yaml" and tree.findings[0].line == 4
    assert tree.blocking


def test_flux_fields_are_applied(repo: Path) -> None:
    result = render_cluster(repo, load_config(repo), "demo")
    apps = result.by_kustomization[("flux-system", "apps")]
    namespaced = [m for m in apps if m.obj["kind"] != "Namespace"]
    assert {m.obj["metadata"]["namespace"] for m in namespaced} == {"team-a"}  # targetNamespace
    [web] = [m for m in apps if m.obj["kind"] == "Deployment"]
    assert web.obj["metadata"]["labels"]["patched-by-flux"] == "yes"  # spec.patches


def test_path_without_kustomization_yaml_is_rendered_like_flux(repo: Path) -> None:
    (repo / "infra/kustomization.yaml").unlink()
    write(repo / "infra/sub/kustomization.yaml", KUST + "resources:\n  - cm.yaml\n")
    write(repo / "infra/sub/cm.yaml", CM.format(name="from-sub"))
    result = render_cluster(repo, load_config(repo), "demo")
    names = sorted(m.obj["metadata"]["name"] for m in result.by_kustomization[("flux-system", "infra")])
    assert names == ["from-sub", "gadget-controller", "gadgets", "widgets.example.com"]
    [sub] = [m for m in result.manifests if m.obj["metadata"]["name"] == "from-sub"]
    assert (sub.source.file, sub.source.line) == ("infra/sub/cm.yaml", 1)


# The texts are exact (Flux substitutes on them, provenance counts their lines): each ends with the line
# break before its `---` line, as a split at every line that is only `---` (and trailing blanks) gives.
_MARKER_LINE = re.compile(r"^---[ \t]*$", re.MULTILINE)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["a: 1\n", "---\n", "--- \t\n", "---", "\n", "b:\n  - x\n", "  ---\n", "---x\n",
                                 "kind: A\n", "x: |\n  ---\n", "----\n", " "]), max_size=10))
def test_split_documents_splits_exactly_at_marker_lines(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert split_documents(text) == [part for part in _MARKER_LINE.split(text) if part.strip()]


@pytest.mark.parametrize("text", ["kind: A\nmetadata:\n  name: n\n", "apiVersion: v1\nkind: A\nmetadata:\n  name: n\n",
                                  "metadata:\n  name: n\n\n  labels: {a: b}\nkind: A\n", "spec:\n  kind: A\n"])
def test_kind_and_metadata_read_from_the_text_match_the_parsed_object(text: str) -> None:
    unparsed, parsed = RenderedDoc(None, text), RenderedDoc(None, text)
    obj = parsed.obj
    assert unparsed.has_kind(("A",)) == (obj.get("kind") == "A") == parsed.has_kind(("A",))
    assert unparsed.metadata() == (obj.get("metadata") or {})


def test_kind_read_from_the_text_follows_a_new_text() -> None:
    # the kinds found in the text are kept per object; an object given a new text (a plain folder's objects
    # moved to a target namespace are dumped again) answers from the new text
    doc = RenderedDoc(None, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: n\n")
    assert doc.has_kind(("ConfigMap", "Secret")) and not doc.has_kind(("Kustomization",))
    doc.text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: n\n"
    assert doc.has_kind(("Secret",)) and not doc.has_kind(("ConfigMap",))


def test_split_documents_keeps_block_scalars() -> None:
    text = "a: 1\n---\nb: |\n  x\n  ---\n  y\n---\nc: 3\n"
    assert [yaml.safe_load(d) for d in split_documents(text)] == [{"a": 1}, {"b": "x\n---\ny\n"}, {"c": 3}]


def test_render_cli_writes_one_file_per_kustomization(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli("render", "--repo", str(repo), "--cluster", "demo", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        ".mlplatform-render.json",  # the record of what it wrote (render_out.py): its own files only are replaced
        "flux-system-apps.yaml",
        "flux-system-flux-system.yaml",
        "flux-system-infra.yaml",
    ]
    docs = list(yaml.safe_load_all((out / "flux-system-apps.yaml").read_text()))
    assert len(docs) == 6
    proc = run_cli("render", "--repo", str(repo), "--cluster", "demo")
    assert proc.returncode == 0
    assert len([d for d in yaml.safe_load_all(proc.stdout) if d]) == 14


def test_render_unknown_cluster_is_exit_2(repo: Path) -> None:
    proc = run_cli("render", "--repo", str(repo), "--cluster", "nope")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "nope" in proc.stderr


def test_offline_environment_has_no_route_out() -> None:
    from mlplatform.render import _offline_env

    env = _offline_env()
    assert env["HTTPS_PROXY"].startswith("http://127.0.0.1") and env["GIT_ALLOW_PROTOCOL"] == "file"
    assert os.environ.get("HTTPS_PROXY") != env["HTTPS_PROXY"] or True


def test_render_cluster_manifests_is_the_shared_entry_point(repo: Path) -> None:
    from mlplatform.cluster_render import render_cluster_manifests
    from mlplatform.model import Manifest

    manifests, findings = render_cluster_manifests(repo, load_config(repo), "demo")
    assert len(manifests) == 14 and all(isinstance(m, Manifest) and m.cluster == "demo" for m in manifests)
    assert all(m.source.file and m.source.line >= 1 and m.source.flux_kustomization for m in manifests)
    assert [f for f in findings if f.severity.value == "error"] == []


def test_flux_images_and_components_are_applied(repo: Path) -> None:
    write(
        repo / "apps/demo/extra/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonLabels:\n  component: extra\n",
    )
    deployment = repo / "apps/base/deployment.yaml"
    deployment.write_text(deployment.read_text().replace("${cluster_name}/web:1.0.0", "web:1.0.0"))
    path = repo / "clusters/demo/apps.yaml"
    path.write_text(
        path.read_text().replace(
            "  targetNamespace: team-a\n",
            "  targetNamespace: team-a\n  components:\n    - extra\n  images:\n"
            "    - name: registry.example.com/web\n      newTag: 2.0.0\n",
        )
    )
    result = render_cluster(repo, load_config(repo), "demo")
    assert [f for f in result.findings if f.severity.value == "error"] == []
    [web] = [m for m in result.manifests if m.obj["kind"] == "Deployment"]
    assert web.obj["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/web:2.0.0"
    assert web.obj["metadata"]["labels"]["component"] == "extra"


def test_walk_follows_a_chain_of_thousands_of_kustomizations_without_recursion(tmp_path: Path) -> None:
    from mlplatform.render import walk_kustomization

    count = 2500  # each level was three Python frames: the recursion limit ended near 330
    for i in range(count):
        directory = tmp_path / f"k{i}"
        directory.mkdir()
        entries = [f"../k{i + 1}"] if i + 1 < count else ["cm.yaml"]
        (directory / "kustomization.yaml").write_text("resources:\n" + "".join(f"  - {e}\n" for e in entries))
    (tmp_path / f"k{count - 1}" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    tree = walk_kustomization(tmp_path, tmp_path / "k0")
    assert tree.findings == []
    assert len(tree.kustomization_files) == count
    assert tree.kustomization_files[0].parent.name == "k0"  # depth first, in the order a recursion had
    assert [p.name for p in tree.resource_files] == ["cm.yaml"]


def test_kustomize_configuration_files_outside_the_root_are_refused(tmp_path: Path) -> None:
    # with LoadRestrictionsNone kustomize itself would read these: the walk must refuse them first
    root = tmp_path / "repo"
    write(root / "k/cm.yaml", CM.format(name="x"))
    write(
        root / "k/kustomization.yaml",
        KUST + "resources:\n  - cm.yaml\nopenapi:\n  path: /etc/passwd\nconfigurations:\n  - ../../outside.yaml\n",
    )
    tree = walk_kustomization(root, root / "k")
    assert sorted((f.rule, f.line) for f in tree.findings) == [
        ("render/outside-repository", 6),
        ("render/outside-repository", 8),
    ]
    assert tree.blocking


def test_each_kustomization_is_read_once_per_run_and_every_walk_gets_it_in_its_own_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlplatform.render import SourceCache

    repo = tmp_path / "repo"
    write(repo / "base/deploy.yaml", CM.format(name="deploy"))
    write(repo / "base/kustomization.yaml", KUST + "resources:\n  - deploy.yaml\n  - ../common\n")
    write(repo / "common/cm.yaml", CM.format(name="common"))
    write(repo / "common/kustomization.yaml", KUST + "resources:\n  - cm.yaml\n  - missing.yaml\n  - ../bare\n")
    (repo / "bare").mkdir()
    # `a` reaches common twice (through base, then itself): it is walked once, where first reached
    write(repo / "a/kustomization.yaml", KUST + "namePrefix: a-\nresources:\n  - ../base\n  - ../common\n")
    write(repo / "b/kustomization.yaml", KUST + "resources:\n  - ../common\n  - ../base\n")
    cache = SourceCache()
    reads: list[Path] = []
    documents = SourceCache.documents
    monkeypatch.setattr(SourceCache, "documents", lambda self, path: reads.append(path) or documents(self, path))

    a = walk_kustomization(repo, repo / "a", "cluster-a", cache)
    b = walk_kustomization(repo, repo / "b", "cluster-b", cache)

    assert sorted(reads) == sorted(repo / d / "kustomization.yaml" for d in ("a", "b", "base", "common"))
    assert [p.parent.name for p in a.kustomization_files] == ["a", "base", "common"]
    assert [p.parent.name for p in b.kustomization_files] == ["b", "common", "base"]
    assert [p.name for p in a.resource_files] == ["deploy.yaml", "cm.yaml"]
    assert [p.name for p in b.resource_files] == ["cm.yaml", "deploy.yaml"]
    assert (a.name_prefixes, b.name_prefixes) == ({"a-"}, set())
    for tree, cluster in ((a, "cluster-a"), (b, "cluster-b")):
        assert [(f.rule, f.file, f.line, f.cluster) for f in tree.findings] == [
            ("render/missing-reference", "common/kustomization.yaml", 5, cluster),
            ("render/missing-kustomization", "common/kustomization.yaml", 6, cluster),
        ]
    assert [(entry, line) for entry, _, line in a.references] == [
        ("../base", 5), ("deploy.yaml", 4), ("../common", 5), ("cm.yaml", 4), ("../bare", 6), ("../common", 6)
    ]


def test_repository_relative_names_are_pathlibs(tmp_path: Path) -> None:
    from mlplatform.render import rel

    # (repository, path, name): below the repository, the repository itself, a sibling sharing its prefix,
    # pathlib's distinct "//" root, the root "/", relative paths, undecodable bytes shown as escapes
    cases = [("/r", "/r/a/b c", "a/b c"), ("/r", "/r", "."), ("/r", "/rx/a", "/rx/a"), ("//r", "//r/a", "a"),
             ("/", "/a", "a"), ("r", "r/a", "a"), (".", "a/b", "a/b"), ("/r", "/r/../x", "../x"),
             ("/r", "/r/\udcff.yaml", "\\xff.yaml"), ("r", "/r/a", "/r/a")]
    for repo, path, name in cases:
        assert rel(Path(repo), Path(path)) == name, (repo, path)
    assert rel(tmp_path, tmp_path / "k" / "kustomization.yaml") == "k/kustomization.yaml"


def test_two_threads_reaching_one_base_at_once_read_it_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from mlplatform import render

    repo = tmp_path / "repo"
    write(repo / "base/cm.yaml", CM.format(name="base"))
    write(repo / "base/kustomization.yaml", KUST + "resources:\n  - cm.yaml\n")
    for overlay in ("a", "b"):
        write(repo / overlay / "kustomization.yaml", KUST + "resources:\n  - ../base\n")
    cache = render.SourceCache()
    asked, both_asked, reads = [], threading.Event(), []
    directory, read_directory = render.SourceCache.directory, render._read_directory

    def ask(self: render.SourceCache, root: Path, d: Path) -> render._DirectoryRead:
        if d == repo / "base":
            asked.append(d)
            if len(asked) == 2:
                both_asked.set()
        return directory(self, root, d)

    def read(root: Path, d: Path, source: render.SourceCache) -> render._DirectoryRead:
        if d == repo / "base":
            reads.append(d)
            both_asked.wait(timeout=5)  # the other thread asks for the base while this one reads it
        return read_directory(root, d, source)

    monkeypatch.setattr(render.SourceCache, "directory", ask)
    monkeypatch.setattr(render, "_read_directory", read)
    trees: dict[str, render.KustTree] = {}
    threads = [threading.Thread(target=lambda o=o: trees.update({o: walk_kustomization(repo, repo / o, o, cache)}))
               for o in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(asked) == 2 and len(reads) == 1
    assert trees["a"].resource_files == trees["b"].resource_files == [repo / "base/cm.yaml"]
