"""`mlplatform validate DIR`: a directory argument validates every *.yaml / *.yml file below it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import run_cli

FIXTURE = Path(__file__).parent / "fixtures" / "repos" / "flux-basic"
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "flux-basic"
    shutil.copytree(FIXTURE, target)
    return target


def test_directory_argument_validates_the_yaml_files_below_it(repo: Path) -> None:
    good = repo / "manifests"
    (good / "sub").mkdir(parents=True)
    (good / "a.yaml").write_text(CM.format(name="a"))
    (good / "sub" / "b.yml").write_text(CM.format(name="b"))
    proc = run_cli("validate", "--repo", str(repo), "--format", "json", "manifests", cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["findings"] == []
    assert report["info"]["objects"]["files"] == 2, report["info"]


def test_directory_finds_errors_in_nested_files_and_both_suffixes(repo: Path) -> None:
    nested = repo / "apps" / "extra" / "deeper"
    nested.mkdir(parents=True)
    (nested / "bad.yml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: many\n"
        "  selector: {}\n  template: {}\n"
    )
    (nested / "broken.yaml").write_text("apiVersion: v1\nkind: [\n")
    (nested / "notes.txt").write_text("kind: [ not yaml at all\n")  # not a YAML file: not validated
    hidden = repo / "apps" / ".cache"
    hidden.mkdir()
    (hidden / "junk.yaml").write_text("kind: [\n")  # hidden directory: skipped
    proc = run_cli("validate", "--repo", str(repo), "--format", "json", str(repo / "apps"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = {(f["file"], f["rule"]) for f in json.loads(proc.stdout)["findings"] if f["severity"] == "error"}
    files = {file for file, _ in errors}
    assert "apps/extra/deeper/broken.yaml" in files and ("apps/extra/deeper/broken.yaml", "yaml/syntax") in errors
    assert "apps/extra/deeper/bad.yml" in files
    assert not any(".cache" in f or f.endswith(".txt") for f in files), errors


def test_directory_without_yaml_files_is_exit_2(repo: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_cli("validate", "--repo", str(repo), str(empty))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "no *.yaml or *.yml files" in proc.stderr
