"""Issue 18: `validate` works on any file anywhere (built-in defaults, or the nearest .mlplatform.yaml above
the current directory, as ruff and git look), skips kustomize patch files in DIR mode and accepts SOPS
Secrets; the repository-wide YAML check honours `exclude` and skips Helm chart folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from helpers import FIXTURES, run_cli
from mlplatform import hygiene
from mlplatform.config import load_config

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: nginx:1.27
"""
WIDGET = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"


def findings(proc) -> list[dict]:
    return json.loads(proc.stdout)["findings"]


def test_validate_a_file_outside_any_repository(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(DEPLOYMENT.format(replicas=2))
    (tmp_path / "bad.yaml").write_text(DEPLOYMENT.format(replicas='"many"'))
    good = run_cli("validate", "--format", "json", "good.yaml", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert findings(good) == []
    bad = run_cli("validate", "--format", "json", "bad.yaml", cwd=tmp_path)
    assert bad.returncode == 1, bad.stderr
    [problem] = findings(bad)
    assert problem["rule"].startswith("schema/")
    assert problem["file"].endswith("bad.yaml") and problem["line"] == 6


def test_the_nearest_configuration_above_the_current_directory_is_used(tmp_path: Path) -> None:
    work = tmp_path / "team" / "manifests"
    work.mkdir(parents=True)
    (work / "widget.yaml").write_text(WIDGET)
    # built-in defaults: a kind with no schema is a warning
    assert run_cli("validate", "widget.yaml", cwd=work).returncode == 0
    # strict in the configuration two folders up: the same file is an error
    (tmp_path / ".mlplatform.yaml").write_text("strict: true\n")
    strict = run_cli("validate", "--format", "json", "widget.yaml", cwd=work)
    assert strict.returncode == 1
    assert "no schema for Widget" in findings(strict)[0]["message"]


def test_directory_mode_skips_the_patch_files_of_its_kustomizations(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "deployment.yaml").write_text(DEPLOYMENT.format(replicas=1))
    # a strategic-merge patch: a partial object (no selector, no containers' images) on its own
    (app / "replicas-patch.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
        "      containers:\n        - name: web\n          resources: {}\n"
    )
    (app / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n"
        "patches:\n  - path: replicas-patch.yaml\n"
    )
    whole = run_cli("validate", "--format", "json", "app", cwd=tmp_path)
    assert whole.returncode == 0, whole.stdout + whole.stderr
    assert json.loads(whole.stdout)["info"]["objects"]["files"] == 1
    alone = run_cli("validate", "--format", "json", "app/replicas-patch.yaml", cwd=tmp_path)
    assert alone.returncode == 1  # named on its own it is validated, and is not a whole Deployment


def test_a_sops_secret_is_not_a_schema_error(tmp_path: Path) -> None:
    (tmp_path / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ntype: Opaque\ndata:\n"
        "  token: ENC[AES256_GCM,data:eA==,iv:aQ==,tag:dA==,type:str]\n"
        "sops:\n  lastmodified: '2025-10-01T00:00:00Z'\n  mac: ENC[AES256_GCM,data:bQ==,type:str]\n"
        "  version: 3.10.2\n"
    )
    proc = run_cli("validate", "--format", "json", "secret.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert findings(proc) == []


def test_exclude_globs_and_chart_folders_are_skipped_by_the_yaml_check(tmp_path: Path) -> None:
    chart = tmp_path / "charts" / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (chart / "templates" / "deployment.yaml").write_text("{{- if .Values.enabled }}\nkind: [\n{{- end }}\n")
    (tmp_path / "vendor" / "x").mkdir(parents=True)
    (tmp_path / "vendor" / "x" / "broken.yaml").write_text("a: [\n")
    (tmp_path / "stray.yaml").write_text("a: [\n")
    found = hygiene.check_repository(tmp_path, exclude=["vendor"])
    assert sorted({f.file for f in found}) == ["stray.yaml"]
    assert {f.file for f in hygiene.check_repository(tmp_path)} == {"stray.yaml", "vendor/x/broken.yaml"}
    (tmp_path / ".mlplatform.yaml").write_text("exclude:\n  - vendor/**\n  - stray.yaml\n")
    config = load_config(tmp_path)
    assert hygiene.check_repository(tmp_path, exclude=config.exclude) == []


def test_a_repository_without_clusters_is_not_refused(tmp_path: Path) -> None:
    repo = tmp_path / "layouts"
    shutil.copytree(FIXTURES / "repos" / "flux-layouts", repo)
    proc = run_cli("validate", "--repo", str(repo), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["info"]["objects"]["lab"] > 10
    nothing = run_cli("validate", "--repo", str(tmp_path / "layouts" / "sources"))
    assert nothing.returncode == 2 and "no Flux cluster found" in nothing.stderr
