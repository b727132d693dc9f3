"""`check`, `validate` and `render` as a user runs them, on a fixture repository and on this repository."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import REPO_ROOT, crd_schema_dir, run_cli
from mlplatform.check import run_check
from mlplatform.config import load_config

FIXTURE = Path(__file__).parent / "fixtures" / "repos" / "flux-basic"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "flux-basic"
    shutil.copytree(FIXTURE, target)
    return target


def test_check_fixture_passes_and_names_kustomize(repo: Path) -> None:
    proc = run_cli("check", "--repo", str(repo), "--format", "json", "--jobs", "1")
    report = json.loads(proc.stdout)
    assert set(report) >= {"findings", "summary"}
    # the fixture is clean for every check (engine and policy rules): no error, exit 0
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert errors == [] and report["summary"]["errors"] == 0, errors
    assert proc.returncode == 0, proc.stderr
    for finding in report["findings"]:
        assert set(finding) >= {"rule", "severity", "message", "cluster", "file", "line", "object"}
    assert any(line.startswith("kustomize: ") and " v" in line for line in proc.stderr.splitlines())


def test_strict_turns_missing_schemas_into_errors(repo: Path) -> None:
    proc = run_cli("check", "--repo", str(repo), "--strict", "--format", "json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    kinds = {f["object"]["kind"] for f in report["findings"] if f["severity"] == "error" and f["object"]}
    assert "Gadget" in kinds  # no CRD in the output and no schema location for it


def test_text_output_names_file_and_line(repo: Path) -> None:
    path = repo / "clusters/demo/apps.yaml"
    path.write_text(path.read_text().replace("path: ./apps/demo", "path: ./apps/gone"))
    proc = run_cli("check", "--repo", str(repo))
    assert proc.returncode == 1
    assert "clusters/demo/apps.yaml:13" in proc.stdout


def test_check_this_repository_renders_both_clusters_without_errors() -> None:
    schemas = str(crd_schema_dir())
    config = load_config(REPO_ROOT, schema_locations=[schemas])
    result = run_check(REPO_ROOT, config)
    assert set(result.object_counts) >= {"production", "staging"}
    assert all(count > 0 for count in result.object_counts.values()), result.object_counts
    errors = [
        f"{f.file}:{f.line}: {f.rule}: {f.message}" for f in result.findings if f.severity.value == "error"
    ]
    assert errors == []
    proc = run_cli("check", "--repo", str(REPO_ROOT), "--schema-location", schemas, "--format", "json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr


def test_validate_rendered_clusters(repo: Path) -> None:
    proc = run_cli("validate", "--repo", str(repo), "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["summary"]["errors"] == 0


def test_validate_files_as_they_are(repo: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\ndata:\n  a: b\n")
    proc = run_cli("validate", "--repo", str(repo), str(good))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bad_schema = tmp_path / "bad.yaml"
    bad_schema.write_text(
        "# a Deployment with a string where an integer belongs\napiVersion: apps/v1\nkind: Deployment\n"
        "metadata:\n  name: web\nspec:\n  replicas: many\n  selector: {}\n  template: {}\n"
    )
    proc = run_cli("validate", "--repo", str(repo), "--format", "json", str(bad_schema))
    assert proc.returncode == 1
    [error] = [f for f in json.loads(proc.stdout)["findings"] if f["severity"] == "error"]
    assert error["line"] == 7 and error["file"].endswith("bad.yaml")  # the line of `replicas: many`
    bad_yaml = tmp_path / "broken.yaml"
    bad_yaml.write_text("apiVersion: v1\nkind: [\n")
    proc = run_cli("validate", "--repo", str(repo), "--format", "json", str(bad_yaml))
    assert proc.returncode == 1
    [finding] = json.loads(proc.stdout)["findings"]
    assert (finding["rule"], finding["line"]) == ("yaml/syntax", 3)
    proc = run_cli("validate", "--repo", str(repo), str(tmp_path / "absent.yaml"))
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_repo_files_in_validate_are_repository_relative(repo: Path) -> None:
    proc = run_cli("validate", "--repo", str(repo), "--format", "json", str(repo / "apps/base/widget.yaml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = {f["file"] for f in json.loads(proc.stdout)["findings"]}
    assert files <= {"apps/base/widget.yaml"}


def test_validate_leaves_graph_semantics_to_check(repo: Path) -> None:
    path = repo / "clusters/demo/apps.yaml"
    path.write_text(path.read_text().replace("  dependsOn:\n    - name: infra\n", ""))
    proc = run_cli("validate", "--repo", str(repo), "--format", "json")
    assert proc.returncode == 0, proc.stdout
    proc = run_cli("check", "--repo", str(repo), "--format", "json")
    assert proc.returncode == 1
    # without dependsOn, the apps apply custom resources before the Kustomization that installs their CRDs
    errors = [f for f in json.loads(proc.stdout)["findings"] if f["severity"] == "error"]
    assert errors and all(f["rule"] == "flux/crd-not-installed-first" for f in errors), errors
    assert {(f["file"], f["object"]["kind"]) for f in errors} == {
        ("apps/base/widget.yaml", "Widget"), ("apps/base/widget.yaml", "Gadget")}


def test_validate_skips_kustomize_build_files(repo: Path) -> None:
    files = [str(repo / "apps/base/kustomization.yaml"), str(repo / "apps/demo/kustomization.yaml")]
    proc = run_cli("validate", "--repo", str(repo), "--strict", "--format", "json", *files)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["findings"] == []


def test_render_with_a_broken_kustomization_exits_1(repo: Path) -> None:
    (repo / "apps/base/kustomization.yaml").write_text("resources:\n  - nowhere.yaml\n")
    proc = run_cli("render", "--repo", str(repo), "--cluster", "demo")
    assert proc.returncode == 1
    assert "apps/base/kustomization.yaml:2" in proc.stderr
    assert "name: demo-web" not in proc.stdout and "kind: HelmRelease" in proc.stdout


def test_the_helm_line_says_how_many_releases_were_not_rendered(monkeypatch) -> None:
    # a fresh clone renders none of its HelmReleases (empty chart cache) and `check` said only "0 errors"
    from mlplatform import helm
    from mlplatform.check import CheckResult
    from mlplatform.cli.check_cmd import helm_line
    from mlplatform.model import Finding, ObjectRef, Severity

    monkeypatch.setattr(helm, "find_helm", lambda: helm.Helm("/opt/helm", "helm v4.1.4"))
    release = ObjectRef("helm.toolkit.fluxcd.io/v2", "HelmRelease", "keda", "keda")
    other = ObjectRef("helm.toolkit.fluxcd.io/v2", "HelmRelease", "velero", "velero")
    unavailable = [
        Finding(helm.CHART_UNAVAILABLE, Severity.INFO, "chart not available", cluster=c, object=o)
        for c in ("production", "staging") for o in (release, other)
    ]
    result = CheckResult(findings=unavailable, clusters=["production", "staging"], object_counts={},
                         kustomize="k", timings={})
    line = helm_line(result)
    assert line.startswith("/opt/helm (helm v4.1.4); 2 HelmRelease(s) not rendered"), line
    assert "mlplatform charts pull" in line
    result.findings = []
    assert helm_line(result) == "/opt/helm (helm v4.1.4)"
