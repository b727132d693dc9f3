"""Provenance: every rendered object, and every finding on one, names the file and line a person edits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import run_cli
from mlplatform.cluster_render import render_cluster
from mlplatform.config import load_config
from mlplatform.model import Manifest, Provenance
from mlplatform.provenance import SourceCache, SourceProvenance, build_index, field_line, path_parts
from mlplatform.render import walk_kustomization
from mlplatform.yamlio import iter_documents, plain

FIXTURE = Path(__file__).parent / "fixtures" / "repos" / "flux-basic"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "flux-basic"
    shutil.copytree(FIXTURE, target)
    return target


def sources(repo: Path) -> dict[tuple[str, str], tuple[str, int, str | None]]:
    result = render_cluster(repo, load_config(repo), "demo")
    return {
        (m.obj["kind"], m.obj["metadata"]["name"]): (
            m.source.file,
            m.source.line,
            m.source.flux_kustomization,
        )
        for m in result.manifests
    }


def test_every_object_is_traced(repo: Path) -> None:
    assert sources(repo) == {
        # the bootstrap root renders clusters/demo: Flux's own objects come from there
        ("GitRepository", "flux-system"): ("clusters/demo/flux-system/gotk-sync.yaml", 1, "flux-system"),
        ("Kustomization", "flux-system"): ("clusters/demo/flux-system/gotk-sync.yaml", 12, "flux-system"),
        ("ConfigMap", "cluster-vars"): ("clusters/demo/cluster-vars.yaml", 1, "flux-system"),
        ("Kustomization", "infra"): ("clusters/demo/infra.yaml", 1, "flux-system"),
        ("Kustomization", "apps"): ("clusters/demo/apps.yaml", 1, "flux-system"),
        ("CustomResourceDefinition", "widgets.example.com"): ("infra/widgets-crd.yaml", 1, "infra"),
        ("HelmRepository", "gadgets"): ("infra/gadget-controller.yaml", 2, "infra"),  # after a comment line
        ("HelmRelease", "gadget-controller"): ("infra/gadget-controller.yaml", 11, "infra"),
        ("Namespace", "team-a"): ("apps/demo/namespace.yaml", 1, "apps"),
        # namePrefix demo- and targetNamespace team-a changed these: matched by their source names
        ("Deployment", "demo-web"): ("apps/base/deployment.yaml", 2, "apps"),
        ("ConfigMap", "demo-scripts"): ("apps/base/scripts.yaml", 1, "apps"),
        ("Widget", "demo-big"): ("apps/base/widget.yaml", 1, "apps"),
        ("Gadget", "demo-g1"): ("apps/base/widget.yaml", 8, "apps"),  # second document of the file
        # a generated ConfigMap (prefix + content hash) points at its generator entry
        ("ConfigMap", "demo-app-settings-t82mkhg8fd"): ("apps/base/kustomization.yaml", 8, "apps"),
    }


def test_templated_names_match_after_substitution(repo: Path) -> None:
    path = repo / "apps/base/scripts.yaml"
    path.write_text(
        "# scripts\n" + path.read_text().replace("name: scripts", "name: scripts-${cluster_name}")
    )
    path = repo / "apps/base/scripts.yaml"
    text = path.read_text().replace("    kustomize.toolkit.fluxcd.io/substitute: disabled\n", "    note: x\n")
    path.write_text(text.replace("${PATH} ${undefined_in_flux}", "plain"))
    assert sources(repo)[("ConfigMap", "demo-scripts-demo")] == ("apps/base/scripts.yaml", 2, "apps")


def test_index_lookup_is_by_key(repo: Path) -> None:
    tree = walk_kustomization(repo, repo / "apps/demo")
    index = build_index(repo, tree, SourceCache())
    found = index.locate({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "demo-web"}})
    assert (found.file, found.line) == ("apps/base/deployment.yaml", 2)
    # the same name in another API group is a different object: it falls back to the kustomization file
    other = index.locate({"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"name": "web"}})
    assert (other.file, other.line) == ("apps/demo/kustomization.yaml", 1)


def test_indexes_of_one_run_share_each_file_s_entries(repo: Path) -> None:
    # every cluster's Flux Kustomizations reach the same files: one run reads each file's entries once
    cache = SourceCache()
    tree = walk_kustomization(repo, repo / "apps/demo", cache=cache)
    first, second = build_index(repo, tree, cache), build_index(repo, tree, cache, flux_kustomization="other")
    alone = build_index(repo, tree, SourceCache())
    assert first.by_key and first.by_key.keys() == second.by_key.keys() == alone.by_key.keys()
    for key, source in first.by_key.items():
        assert second.by_key[key] is source  # shared, not made again
        assert (source.file, source.line, source.data) == (alone.by_key[key].file, alone.by_key[key].line,
                                                           alone.by_key[key].data)
    assert first.by_name == alone.by_name and first.templated.keys() == alone.templated.keys()


def test_a_finding_on_a_rendered_object_names_its_source(repo: Path) -> None:
    # drop the dependsOn: the Gadget custom resource is then applied before its CRD's controller
    path = repo / "clusters/demo/apps.yaml"
    path.write_text(path.read_text().replace("  dependsOn:\n    - name: infra\n", ""))
    proc = run_cli("check", "--repo", str(repo), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    crd = [f for f in report["findings"] if f["rule"] == "flux/crd-not-installed-first"]
    assert {(f["object"]["kind"], f["file"], f["line"]) for f in crd} == {
        ("Widget", "apps/base/widget.yaml", 1),
        ("Gadget", "apps/base/widget.yaml", 8),
    }
    assert all(f["cluster"] == "demo" for f in crd)


def _schema_lines(report: dict) -> set[tuple[str, str, int]]:
    return {
        (f["message"].split(":", 1)[0], f["file"], f["line"])
        for f in report["findings"]
        if f["rule"] == "schema/invalid"
    }


def test_a_schema_finding_names_the_line_of_its_field(repo: Path) -> None:
    deployment = repo / "apps/base/deployment.yaml"
    text = deployment.read_text().replace(
        "          env:\n",
        "          ports:\n            - name: http\n              containerPort: abc\n          env:\n",
    )
    deployment.write_text(text)
    lines = text.splitlines()
    port_line = lines.index("              containerPort: abc") + 1
    # a patch adds a second container and an unknown field to `web`: the list no longer matches the source
    # by length, so `web` is found by its name; the unknown field (only in the patch) is reported at the
    # line of its container in the file the object comes from
    kustomization = repo / "apps/demo/kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text()
        + "patches:\n  - path: patch.yaml\n"
    )
    (repo / "apps/demo/patch.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
        "      containers:\n        - name: web\n          bogusField: 1\n"
        "        - name: sidecar\n          image: busybox:1.36\n"
    )
    proc = run_cli("check", "--repo", str(repo), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    found = _schema_lines(json.loads(proc.stdout))
    web_line = lines.index("        - name: web") + 1
    assert ("spec.template.spec.containers[0].ports[0].containerPort", "apps/base/deployment.yaml",
            port_line) in found, found
    assert ("spec.template.spec.containers[0].bogusField", "apps/base/deployment.yaml", web_line) in found


def test_validate_file_names_the_line_of_each_bad_field(repo: Path) -> None:
    fixture = repo / "deep-field-bad.yaml"
    shutil.copy(Path(__file__).parent / "fixtures" / "schema" / "deep-field-bad.yaml", fixture)
    lines = fixture.read_text().splitlines()
    proc = run_cli("validate", "--repo", str(repo), "--format", "json", str(fixture))
    assert proc.returncode == 1, proc.stderr
    found = {(path, line) for path, file, line in _schema_lines(json.loads(proc.stdout))
             if file == "deep-field-bad.yaml"}
    assert found == {
        ("spec.replicas", lines.index('  replicas: "x"') + 1),
        ("spec.template.spec.containers[1].ports[0].containerPort",
         lines.index("              containerPort: abc") + 1),
    }


def _manifest(text: str, rendered: dict | None = None) -> Manifest:
    doc = iter_documents(text).__next__()
    return Manifest("c", rendered if rendered is not None else plain(doc.data),
                    SourceProvenance("f.yaml", doc.line, document=doc.data))


def test_field_line_walks_as_far_as_the_source_goes() -> None:
    text = "kind: X\nspec:\n  items:\n    - a\n    - b\n  true: 1\n  odd.key:\n    deep: 2\n"
    m = _manifest(text)
    assert field_line(m, "spec.items[1]") == 5
    assert field_line(m, "spec.true") == 6  # a YAML boolean key, spelled "true" in JSON paths
    assert field_line(m, 'spec["odd.key"].deep') == 8
    assert field_line(m, "spec.missing.deeper") == 2  # the deepest part that exists
    assert field_line(m, "") == 1
    assert field_line(m, "spec[") == 1  # a path that cannot be read names the object
    assert field_line(m, "spec.items[0].x") == 4  # a scalar has no fields: stop at it
    # a patch grew the list: position no longer tells which source item it was, and no name does either
    patched = _manifest(text, {"kind": "X", "spec": {"items": ["z", "a", "b"]}})
    assert field_line(patched, "spec.items[2]") == 3
    # named items are matched by name wherever a patch moved them
    named = "kind: X\nitems:\n  - name: a\n    v: 1\n  - name: b\n    v: 2\n"
    moved = _manifest(named, {"kind": "X", "items": [{"name": "new"}, {"name": "b", "v": 2}, {"name": "a"}]})
    assert field_line(moved, "items[1].v") == 6
    assert field_line(moved, "items[2]") == 3
    assert field_line(moved, "items[0].name") == 2  # only in the patch: the list's own line
    # no source document (a generator, a plain Provenance): the object's line
    plain_source = Manifest("c", {"kind": "X"}, Provenance("f.yaml", 7))
    assert field_line(plain_source, "spec.items[0]") == 7


def test_path_parts() -> None:
    assert path_parts('a.b[0]["x.y/z"].c') == ["a", "b", 0, "x.y/z", "c"]
    assert path_parts("a..b") is None
