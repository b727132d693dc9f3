"""Flux discovery and the dependsOn graph: the fixture renders cleanly, and each graph error is reported."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mlplatform import flux
from mlplatform.cluster_render import render_cluster
from mlplatform.config import load_config
from mlplatform.model import Severity

FIXTURE = Path(__file__).parent / "fixtures" / "repos" / "flux-basic"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "flux-basic"
    shutil.copytree(FIXTURE, target)
    return target


def render(repo: Path):
    config = load_config(repo)
    return render_cluster(repo, config, "demo")


def edit(repo: Path, file: str, old: str, new: str) -> None:
    path = repo / file
    text = path.read_text()
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new))


def by_rule(result, rule: str):
    return [f for f in result.findings if f.rule == rule]


def errors(result):
    return [f for f in result.findings if f.severity is Severity.ERROR]


def test_fixture_discovers_the_chain_and_renders_without_errors(repo: Path) -> None:
    result = render(repo)
    assert errors(result) == []
    assert set(result.graph.kustomizations) == {
        ("flux-system", "flux-system"),
        ("flux-system", "infra"),
        ("flux-system", "apps"),
    }
    order = [ks.name for ks in result.graph.dependency_order()]
    assert order.index("infra") < order.index("apps")
    apps = result.graph.kustomizations[("flux-system", "apps")]
    assert apps.rendered_by == "flux-system/flux-system"
    assert apps.file == "clusters/demo/apps.yaml"
    kinds = sorted(m.obj["kind"] for m in result.by_kustomization[("flux-system", "apps")])
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "Gadget", "Namespace", "Widget"]


def test_dangling_depends_on_points_at_the_entry(repo: Path) -> None:
    edit(repo, "clusters/demo/apps.yaml", "    - name: infra\n", "    - name: infra-missing\n")
    [finding] = by_rule(render(repo), "flux/depends-on-missing")
    assert finding.severity is Severity.ERROR
    assert (finding.file, finding.line) == ("clusters/demo/apps.yaml", 8)
    assert "flux-system/infra-missing" in finding.message


def test_cycle_is_named(repo: Path) -> None:
    edit(repo, "clusters/demo/infra.yaml", "spec:\n", "spec:\n  dependsOn:\n    - name: apps\n")
    [finding] = by_rule(render(repo), "flux/dependency-cycle")
    assert finding.severity is Severity.ERROR
    assert "flux-system/apps -> flux-system/infra -> flux-system/apps" in finding.message
    assert finding.file == "clusters/demo/apps.yaml"


def test_self_dependency_is_a_cycle(repo: Path) -> None:
    edit(repo, "clusters/demo/apps.yaml", "    - name: infra\n", "    - name: infra\n    - name: apps\n")
    [finding] = by_rule(render(repo), "flux/dependency-cycle")
    assert "flux-system/apps -> flux-system/apps" in finding.message


def test_missing_path(repo: Path) -> None:
    edit(repo, "clusters/demo/apps.yaml", "path: ./apps/demo", "path: ./apps/nowhere")
    [finding] = by_rule(render(repo), "flux/path-missing")
    assert (finding.file, finding.line) == ("clusters/demo/apps.yaml", 13)
    assert "./apps/nowhere" in finding.message


def test_path_outside_repository(repo: Path) -> None:
    edit(repo, "clusters/demo/apps.yaml", "path: ./apps/demo", "path: ../../etc")
    result = render(repo)
    [finding] = by_rule(result, "flux/path-outside-repository")
    assert finding.line == 13
    assert ("flux-system", "apps") not in result.renders  # never built


def test_unknown_source_ref(repo: Path) -> None:
    edit(repo, "clusters/demo/infra.yaml", "    name: flux-system\n", "    name: elsewhere\n")
    [finding] = by_rule(render(repo), "flux/source-missing")
    assert finding.file == "clusters/demo/infra.yaml"
    assert "GitRepository flux-system/elsewhere" in finding.message


def test_kustomization_reading_another_source_is_not_rendered(repo: Path) -> None:
    (repo / "clusters/demo/oci.yaml").write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: vendor\n"
        "  namespace: flux-system\nspec:\n  url: oci://example.com/vendor\n---\n"
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: vendor\n"
        "  namespace: flux-system\nspec:\n  path: ./\n  sourceRef:\n    kind: OCIRepository\n"
        "    name: vendor\n"
    )
    edit(repo, "clusters/demo/kustomization.yaml", "  - apps.yaml\n", "  - apps.yaml\n  - oci.yaml\n")
    result = render(repo)
    assert errors(result) == []
    assert ("flux-system", "vendor") in result.graph.kustomizations
    assert ("flux-system", "vendor") not in result.renders
    assert by_rule(result, "flux/external-source")


def test_kustomization_file_not_listed_by_the_root_is_reported(repo: Path) -> None:
    shutil.copy(repo / "clusters/demo/infra.yaml", repo / "clusters/demo/orphan.yaml")
    edit(repo, "clusters/demo/orphan.yaml", "name: infra\n", "name: orphan\n")
    result = render(repo)
    [finding] = by_rule(result, "flux/not-applied")
    assert finding.severity is Severity.WARNING
    assert finding.file == "clusters/demo/orphan.yaml"
    assert ("flux-system", "orphan") not in result.renders


def test_crd_from_a_kustomization_not_depended_on(repo: Path) -> None:
    edit(repo, "clusters/demo/apps.yaml", "  dependsOn:\n    - name: infra\n", "")
    findings = by_rule(render(repo), "flux/crd-not-installed-first")
    located = sorted((f.object.kind, f.file, f.line) for f in findings)
    assert located == [("Gadget", "apps/base/widget.yaml", 8), ("Widget", "apps/base/widget.yaml", 1)]
    assert all("provided by flux-system/infra" in f.message for f in findings)


def test_crd_from_nowhere(repo: Path) -> None:
    edit(
        repo,
        "infra/gadget-controller.yaml",
        '    mlplatform.example.com/provides-crds: "gadgets.example.com"\n',
        '    mlplatform.example.com/provides-crds: "other.example.com"\n',
    )
    [finding] = by_rule(render(repo), "flux/crd-not-installed-first")
    assert finding.object.kind == "Gadget"
    assert "no CustomResourceDefinition of Gadget.gadgets.example.com is applied" in finding.message


def test_find_cycles_reports_each_cycle_once() -> None:
    graph = flux.FluxGraph("c")
    edges = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": ["e"]}
    for name, deps in edges.items():
        ks = flux.parse_kustomization(
            {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "metadata": {"name": name, "namespace": "ns"},
                "spec": {"dependsOn": [{"name": d} for d in deps]},
            },
            "f.yaml",
            1,
        )
        graph.add_kustomization(ks)
    cycles = sorted([name for _, name in cycle] for cycle in flux.find_cycles(graph))
    assert cycles == [["a", "b", "c"], ["e"]]


def test_find_cycles_survives_a_long_chain() -> None:
    graph = flux.FluxGraph("c")
    for i in range(3000):
        graph.add_kustomization(
            flux.parse_kustomization(
                {
                    "metadata": {"name": f"k{i}", "namespace": "ns"},
                    "spec": {"dependsOn": [{"name": f"k{i + 1}"}]},
                },
                "f.yaml",
                1,
            )
        )
    assert flux.find_cycles(graph) == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("./apps/demo", "apps/demo"),
        ("apps/demo/", "apps/demo"),
        ("./", "."),
        ("", "."),
        ("/infra", "infra"),
        ("./apps/../infra", "infra"),
        ("../x", "../x"),
    ],
)
def test_normalize_path(path: str, expected: str) -> None:
    assert flux.normalize_path(path) == expected


def test_child_kustomization_spec_is_substituted_before_discovery(repo: Path) -> None:
    (repo / "extra/demo").mkdir(parents=True)
    (repo / "extra/demo/kustomization.yaml").write_text("resources:\n  - cm.yaml\n")
    (repo / "extra/demo/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n")
    (repo / "infra/extra.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: extra\n"
        "  namespace: flux-system\nspec:\n  path: ./extra/${cluster_name}\n  sourceRef:\n"
        "    kind: GitRepository\n    name: flux-system\n"
    )
    edit(
        repo,
        "infra/kustomization.yaml",
        "  - gadget-controller.yaml\n",
        "  - gadget-controller.yaml\n  - extra.yaml\n",
    )
    result = render(repo)
    assert errors(result) == []
    extra = result.graph.kustomizations[("flux-system", "extra")]
    assert extra.path == "./extra/demo" and extra.rendered_by == "flux-system/infra"
    assert extra.file == "infra/extra.yaml"
    [cm] = result.by_kustomization[("flux-system", "extra")]
    assert (cm.obj["metadata"]["name"], cm.source.file) == ("extra", "extra/demo/cm.yaml")


def test_annotated_kustomization_of_another_source_provides_crds(repo: Path) -> None:
    # Widget's CRD now comes from an upstream overlay we cannot render, announced by the annotation
    edit(repo, "infra/kustomization.yaml", "  - widgets-crd.yaml\n", "  - upstream.yaml\n")
    (repo / "infra/upstream.yaml").write_text(
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: upstream\n"
        "  namespace: flux-system\nspec:\n  url: https://example.com/upstream\n---\n"
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: widgets\n"
        "  namespace: flux-system\n  annotations:\n    mlplatform.example.com/provides-crds: example.com\n"
        "spec:\n  path: ./deploy\n  sourceRef:\n    kind: GitRepository\n    name: upstream\n"
    )
    result = render(repo)
    assert by_rule(result, "flux/crd-not-installed-first") == []
    assert ("flux-system", "widgets") not in result.renders
    edit(
        repo,
        "infra/upstream.yaml",
        "    mlplatform.example.com/provides-crds: example.com\n",
        "    note: x\n",
    )
    [finding] = by_rule(render(repo), "flux/crd-not-installed-first")
    assert finding.object.kind == "Widget"


def test_two_kustomizations_applying_one_object(repo: Path) -> None:
    shutil.copy(repo / "apps/demo/namespace.yaml", repo / "infra/namespace.yaml")
    edit(
        repo,
        "infra/kustomization.yaml",
        "  - widgets-crd.yaml\n",
        "  - widgets-crd.yaml\n  - namespace.yaml\n",
    )
    [finding] = by_rule(render(repo), "flux/duplicate-object")
    assert finding.severity is Severity.WARNING and finding.object.name == "team-a"


def test_leaves_repository(tmp_path: Path) -> None:
    (tmp_path / "infra").mkdir()
    os.symlink("/etc", tmp_path / "escape")
    assert not flux.leaves_repository(tmp_path, "./apps/../infra")
    assert flux.leaves_repository(tmp_path, "./apps/../../x")
    assert flux.leaves_repository(tmp_path, "./escape")


# ---------------------------------------------------------------- hostile paths and depths (issue 16)


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ('"./apps/demo "', "whitespace"),
        ('" ./apps/demo"', "whitespace"),
        ('"./apps/\\0demo"', "NUL byte"),
        ('"./apps/' + "d" * 300 + '"', "longer than 255 bytes"),
    ],
    ids=["trailing-space", "leading-space", "nul", "long-name"],
)
def test_a_flux_path_flux_cannot_use_is_a_finding_at_its_line(repo: Path, path: str, why: str) -> None:
    edit(repo, "clusters/demo/apps.yaml", "path: ./apps/demo", f"path: {path}")
    result = render(repo)
    [finding] = by_rule(result, "flux/path-invalid")
    assert (finding.file, finding.line) == ("clusters/demo/apps.yaml", 13)
    assert why in finding.message and finding.severity is Severity.ERROR
    assert ("flux-system", "apps") not in result.renders  # never built


@pytest.mark.parametrize(
    ("entry", "why"),
    [('"deploy\\0ment.yaml"', "NUL byte"), ('"' + "x" * 300 + '.yaml"', "longer than 255 bytes")],
    ids=["nul", "long-name"],
)
def test_a_kustomization_entry_with_a_nul_or_long_name_is_a_finding(repo: Path, entry: str, why: str) -> None:
    edit(repo, "apps/base/kustomization.yaml", "  - deployment.yaml\n", f"  - {entry}\n")
    [finding] = [f for f in by_rule(render(repo), "render/unreadable-input") if why in f.message]
    assert (finding.file, finding.line) == ("apps/base/kustomization.yaml", 4)  # the entry's own line


def test_a_depends_on_chain_of_thousands_orders_without_recursion(repo: Path) -> None:
    graph = flux.FluxGraph("demo")
    count = 5000  # far beyond Python's recursion limit of 1000
    for i in range(count):
        obj = {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": f"k{i}", "namespace": "flux-system"},
            "spec": {"path": "./apps", "dependsOn": [{"name": f"k{i + 1}"}] if i + 1 < count else []},
        }
        graph.add_kustomization(flux.parse_kustomization(obj, "clusters/demo/chain.yaml", i + 1))
    order = [ks.name for ks in graph.dependency_order()]
    assert order == [f"k{i}" for i in reversed(range(count))]  # each after what it depends on
    assert flux.find_cycles(graph) == []


# ---- issue 18: what a HelmRelease installs, from the configuration or from rendered CRDs

ANNOTATION = '  annotations:\n    mlplatform.example.com/provides-crds: "gadgets.example.com"\n'


def test_helmrelease_with_unknown_crds_is_an_info_naming_it(repo: Path) -> None:
    edit(repo, "infra/gadget-controller.yaml", ANNOTATION, "")
    result = render(repo)
    assert by_rule(result, "flux/crd-not-installed-first") == []
    [info] = by_rule(result, "flux/crd-unknown")
    assert info.severity is Severity.INFO and info.object.kind == "Gadget"
    assert "HelmRelease flux-system/gadget-controller" in info.message and "helm_crds" in info.message


def test_helm_crds_declared_in_the_configuration_order_the_custom_resources(repo: Path) -> None:
    edit(repo, "infra/gadget-controller.yaml", ANNOTATION, "")
    config = repo / ".mlplatform.yaml"
    config.write_text(
        config.read_text() + "helm_crds:\n  flux-system/gadget-controller:\n    - gadgets.example.com/Gadget\n"
    )
    result = render(repo)
    assert by_rule(result, "flux/crd-unknown") == [] and by_rule(result, "flux/crd-not-installed-first") == []
    # declared, but for another kind: the Gadget has no CRD, and the HelmRelease is known not to install it
    edit(repo, ".mlplatform.yaml", "gadgets.example.com/Gadget", "gadgets.example.com/Sprocket")
    [finding] = by_rule(render(repo), "flux/crd-not-installed-first")
    assert finding.severity is Severity.ERROR and finding.object.kind == "Gadget"
    assert "no CustomResourceDefinition of Gadget.gadgets.example.com" in finding.message


def test_a_rendered_crd_object_provides_its_kind(repo: Path) -> None:
    # what a rendered chart adds: the CRD object among the infra Kustomization's objects
    edit(repo, "infra/gadget-controller.yaml", ANNOTATION, "")
    (repo / "infra/gadget-crd.yaml").write_text(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
        "  name: gadgets.gadgets.example.com\nspec:\n  group: gadgets.example.com\n  names:\n"
        "    kind: Gadget\n    plural: gadgets\n  scope: Namespaced\n  versions: []\n"
    )
    edit(repo, "infra/kustomization.yaml", "  - widgets-crd.yaml\n", "  - widgets-crd.yaml\n  - gadget-crd.yaml\n")
    result = render(repo)
    assert by_rule(result, "flux/crd-unknown") == [] and by_rule(result, "flux/crd-not-installed-first") == []


def test_a_bad_helm_crds_setting_is_an_error_at_its_line(repo: Path) -> None:
    config = repo / ".mlplatform.yaml"
    config.write_text(config.read_text() + "helm_crds:\n  gadget-controller: gadgets.example.com\n")
    [finding] = load_config(repo).findings  # repository content: a finding at its line, never a crash
    assert (finding.rule, finding.file, finding.line) == ("config/invalid-value", ".mlplatform.yaml", 4)
    assert "<namespace>/<release>" in finding.message
