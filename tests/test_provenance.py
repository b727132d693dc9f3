"""Provenance: every rendered object, and every finding on one, names the file and line a person edits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import run_cli
from mlplatform.check import render_cluster
from mlplatform.config import load_config
from mlplatform.provenance import SourceCache, build_index
from mlplatform.render import walk_kustomization

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
