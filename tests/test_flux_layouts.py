"""Issue 18: a Flux repository laid out unlike this one (tests/fixtures/repos/flux-layouts, see its README)
renders what Flux would apply: discovery from the bootstrap, sources mapped to folders, substitution with
defaults, nested Kustomizations, a leading-`/` path, SOPS, cross-folder files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import FIXTURES, REPO_ROOT, run_cli
from mlplatform import sops
from mlplatform.cluster_render import render_cluster
from mlplatform.config import load_config
from mlplatform.model import Severity

FIXTURE = FIXTURES / "repos" / "flux-layouts"
MAPPED = {
    "OCIRepository/flux-system/vendor": "sources/vendor",
    "ExternalArtifact/flux-system/bundle-manifests": "sources/bundle",
}
# Every object Flux applies to the lab cluster when the OCI and external artifacts are the two folders.
EXPECTED = {
    ("home-ops", "GitRepository", "flux-system", "home-ops"),
    ("home-ops", "Kustomization", "flux-system", "home-ops"),
    ("home-ops", "ConfigMap", "flux-system", "cluster-vars"),
    ("home-ops", "GitRepository", "team-src", "platform"),
    ("home-ops", "OCIRepository", "flux-system", "vendor"),
    ("home-ops", "ArtifactGenerator", "flux-system", "bundle"),
    ("home-ops", "Kustomization", "flux-system", "apps"),
    ("home-ops", "Kustomization", "flux-system", "leading"),
    ("home-ops", "Kustomization", "flux-system", "secrets"),
    ("home-ops", "Kustomization", "flux-system", "vendor"),
    ("home-ops", "Kustomization", "flux-system", "bundle"),
    ("apps", "Namespace", None, "web"),
    ("apps", "Deployment", "web", "web"),
    ("apps", "Kustomization", "flux-system", "nested"),
    ("nested", "ConfigMap", "web", "nested-config"),
    ("leading", "ConfigMap", "web", "leading-config"),
    ("secrets", "Secret", "web", "db-credentials"),
    ("vendor", "ConfigMap", "web", "vendor-config"),
    ("bundle", "ConfigMap", "web", "bundle-config"),
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "flux-layouts"
    shutil.copytree(FIXTURE, target)
    return target


def render(repo: Path, mapped: dict[str, str] | None = None):
    config = load_config(repo)
    config.sources = dict(mapped or {})
    return render_cluster(repo, config, "lab")


def rendered_set(result) -> set[tuple]:
    return {
        (ks_name, m.obj["kind"], m.obj["metadata"].get("namespace"), m.obj["metadata"]["name"])
        for (_, ks_name), items in result.by_kustomization.items()
        for m in items
    }


def obj(result, kind: str, name: str) -> dict:
    [found] = [m.obj for m in result.manifests if m.obj["kind"] == kind and m.obj["metadata"]["name"] == name]
    return found


def test_the_cluster_is_found_from_its_bootstrap_not_from_a_clusters_folder(repo: Path) -> None:
    roots = load_config(repo).cluster_roots()
    assert list(roots) == ["lab"]
    assert roots["lab"].path == "k8s/clusters/lab"
    assert (roots["lab"].file, roots["lab"].source_name) == ("k8s/clusters/lab/flux-system/gotk-sync.yaml", "home-ops")


def test_every_case_renders_the_objects_flux_applies(repo: Path) -> None:
    result = render(repo, MAPPED)
    assert [f for f in result.findings if f.severity is not Severity.INFO] == []
    assert rendered_set(result) == EXPECTED
    web = obj(result, "Deployment", "web")
    # substituteFrom (cluster-vars), substitute (team) and a default for an unset variable
    assert web["metadata"]["labels"] == {"cluster": "lab", "team": "ml"}
    assert web["spec"]["replicas"] == 2
    assert web["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "REGION", "value": "eu-west-1"}]
    # the nested Kustomization was created by apps, from the cross-folder overlay
    assert result.graph.kustomizations[("flux-system", "nested")].rendered_by == "flux-system/apps"
    # mapped sources: findings and provenance are relative to the mapped folder (its source root)
    vendor = [m for m in result.manifests if m.obj["metadata"]["name"] == "vendor-config"][0]
    assert vendor.source.file == "deploy/config.yaml"


def test_sops_secret_is_rendered_with_placeholders_and_without_its_metadata(repo: Path) -> None:
    secret = obj(render(repo, MAPPED), "Secret", "db-credentials")
    assert "sops" not in secret
    # the encrypted value is a placeholder; a value sops left in clear stays
    assert secret["stringData"] == {"password": sops.PLACEHOLDER, "username": "app"}


def test_sources_neither_in_the_repository_nor_mapped_are_infos_naming_what_was_not_rendered(repo: Path) -> None:
    result = render(repo)
    assert [f for f in result.findings if f.severity is not Severity.INFO] == []
    unrendered = {f.message.split(" reads ")[0]: f for f in result.findings if f.rule == "flux/external-source"}
    assert set(unrendered) == {"Kustomization flux-system/vendor", "Kustomization flux-system/bundle"}
    assert "--source OCIRepository/flux-system/vendor=DIR" in unrendered["Kustomization flux-system/vendor"].message
    assert unrendered["Kustomization flux-system/bundle"].file == "k8s/clusters/lab/apps.yaml"
    assert {k for k, *_ in rendered_set(result)} == {"home-ops", "apps", "nested", "leading", "secrets"}


def test_a_source_defined_nowhere_is_an_info_not_an_error(repo: Path) -> None:
    apps = repo / "k8s/clusters/lab/apps.yaml"
    apps.write_text(apps.read_text().replace("    name: vendor\n", "    name: elsewhere\n"))
    result = render(repo)
    [missing] = [f for f in result.findings if f.rule == "flux/source-missing"]
    assert missing.severity is Severity.INFO
    assert "OCIRepository flux-system/elsewhere" in missing.message and "'./deploy' is not rendered" in missing.message


def test_an_encrypted_secret_without_decryption_is_a_finding(repo: Path) -> None:
    apps = repo / "k8s/clusters/lab/apps.yaml"
    text = apps.read_text()
    apps.write_text(text.replace("  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n", ""))
    [finding] = [f for f in render(repo, MAPPED).findings if f.rule == "flux/decryption-missing"]
    assert finding.severity is Severity.ERROR
    assert (finding.file, finding.line) == ("k8s/apps/secrets/db-credentials.yaml", 2)
    assert "Kustomization flux-system/secrets has no spec.decryption" in finding.message


def test_a_cluster_that_renders_nothing_is_a_finding(repo: Path) -> None:
    (repo / "k8s/clusters/lab/kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"
    )
    result = render(repo)
    [empty] = [f for f in result.findings if f.rule == "flux/cluster-empty"]
    assert empty.severity is Severity.ERROR
    assert (empty.file, empty.line) == ("k8s/clusters/lab/flux-system/gotk-sync.yaml", 20)  # spec.path


def test_render_path_and_source_on_the_command_line(repo: Path) -> None:
    args = ["render", "--repo", str(repo), "--path", str(repo / "k8s")]
    for key, folder in MAPPED.items():
        args += ["--source", f"{key}={repo / folder}"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    for name in ("vendor-config", "bundle-config", "nested-config", "leading-config", "db-credentials"):
        assert f"  name: {name}\n" in proc.stdout
    unmapped = run_cli("render", "--repo", str(repo), "--path", str(repo / "k8s/clusters/lab"))
    assert unmapped.returncode == 0, unmapped.stderr
    assert "vendor-config" not in unmapped.stdout
    assert "flux/external-source: Kustomization flux-system/vendor" in unmapped.stderr
    bad = run_cli("render", "--repo", str(repo), "--path", str(repo), "--source", "OCIRepository/vendor=x")
    assert bad.returncode == 2 and "KIND/NAMESPACE/NAME=DIR" in bad.stderr


def test_render_path_without_a_cluster_renders_nothing_and_says_so(repo: Path) -> None:
    proc = run_cli("render", "--repo", str(repo), "--path", str(repo / "sources/vendor"))
    assert proc.returncode == 1
    assert "flux/cluster-empty" in proc.stderr


def test_sources_and_cluster_locations_from_the_configuration(repo: Path) -> None:
    (repo / ".mlplatform.yaml").write_text(
        "cluster_locations:\n  - k8s/clusters\nsources:\n"
        + "".join(f"  {key}: {folder}\n" for key, folder in MAPPED.items())
    )
    config = load_config(repo)
    assert config.clusters() == ["lab"]
    result = render_cluster(repo, config, "lab")
    assert rendered_set(result) == EXPECTED


def test_the_repository_cannot_map_a_source_or_cluster_outside_itself(repo: Path) -> None:
    # repository content: a finding at its line, and the setting keeps its default (nothing mapped)
    (repo / ".mlplatform.yaml").write_text("sources:\n  OCIRepository/flux-system/vendor: /etc\n")
    config = load_config(repo)
    [finding] = config.findings
    assert (finding.rule, finding.file, finding.line) == ("config/invalid-value", ".mlplatform.yaml", 1)
    assert "inside the repository" in finding.message and config.sources == {}
    (repo / ".mlplatform.yaml").write_text("cluster_locations:\n  - ../elsewhere\n")
    config = load_config(repo)
    assert [f.rule for f in config.findings] == ["config/invalid-value"] and config.cluster_locations == []


def test_a_bucket_source_is_rendered_from_its_mapped_folder(repo: Path) -> None:
    sources = repo / "k8s/clusters/lab/sources.yaml"
    sources.write_text(sources.read_text().replace(
        "kind: OCIRepository\nmetadata:\n  name: vendor\n", "kind: Bucket\nmetadata:\n  name: vendor\n"))
    apps = repo / "k8s/clusters/lab/apps.yaml"
    apps.write_text(apps.read_text().replace("    kind: OCIRepository\n", "    kind: Bucket\n"))
    unmapped = render(repo)
    assert "--source Bucket/flux-system/vendor=DIR" in " ".join(f.message for f in unmapped.findings)
    result = render(repo, {"Bucket/flux-system/vendor": str(repo / "sources/vendor")})
    assert obj(result, "ConfigMap", "vendor-config")["data"] == {"from": "oci"}


def test_this_repository_clusters_are_found_from_their_bootstrap() -> None:
    roots = load_config(REPO_ROOT).cluster_roots()
    assert sorted(roots) == ["production", "staging"]
    for name, root in roots.items():
        assert (root.path, root.file) == (f"clusters/{name}", f"clusters/{name}/flux-system/gotk-sync.yaml")
