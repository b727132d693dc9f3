"""Bad input through the real CLI: each case gives a finding or one error line with file and line,
exit 1 or 2, no traceback, within seconds."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from helpers import run_cli
from test_hygiene import alias_bomb

FIXTURE = Path(__file__).parent / "fixtures" / "repos" / "flux-basic"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "flux-basic"
    shutil.copytree(FIXTURE, target)
    return target


def check(repo: Path, *args: str) -> tuple[int, dict, str]:
    started = time.perf_counter()
    proc = run_cli("check", "--repo", str(repo), "--format", "json", *args)
    assert time.perf_counter() - started < 30
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    report = json.loads(proc.stdout) if proc.returncode in (0, 1) else {}
    return proc.returncode, report, proc.stderr


def findings(report: dict, rule: str) -> list[tuple[str, int]]:
    return [(f["file"], f["line"]) for f in report["findings"] if f["rule"] == rule]


def assert_folded_into(report: dict, rule: str) -> None:
    """One finding per mistake: the kustomization entry that cannot use the file is named in the file's own
    finding (consolidate.fold_into_causes), not reported again."""
    assert findings(report, "render/unreadable-input") == []
    [cause] = [f for f in report["findings"] if f["rule"] == rule]
    assert "render/unreadable-input at apps/base/kustomization.yaml:7" in cause["message"]


def add_resource(repo: Path, entry: str) -> None:
    path = repo / "apps/base/kustomization.yaml"
    path.write_text(path.read_text().replace("  - widget.yaml\n", f"  - widget.yaml\n  - {entry}\n"))


def test_invalid_yaml_in_a_rendered_file(repo: Path) -> None:
    (repo / "apps/base/broken.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n")
    add_resource(repo, "broken.yaml")
    code, report, _ = check(repo)
    assert code == 1
    assert findings(report, "yaml/syntax") == [("apps/base/broken.yaml", 5)]
    # the Kustomization that needs it is not built: the YAML finding says which entry of which kustomization.yaml
    assert_folded_into(report, "yaml/syntax")


def test_duplicate_keys(repo: Path) -> None:
    path = repo / "apps/base/widget.yaml"
    path.write_text(path.read_text().replace("spec:\n  size: 3\n", "spec:\n  size: 3\n  size: 4\n"))
    code, report, _ = check(repo)
    assert code == 1
    assert findings(report, "yaml/duplicate-key") == [("apps/base/widget.yaml", 7)]


def test_alias_bomb_never_reaches_kustomize(repo: Path) -> None:
    (repo / "apps/base/bomb.yaml").write_text(alias_bomb())
    add_resource(repo, "bomb.yaml")
    code, report, _ = check(repo)  # kustomize itself needs minutes and gigabytes for this file
    assert code == 1
    assert [f for f, _ in findings(report, "yaml/limit")] == ["apps/base/bomb.yaml"]
    assert_folded_into(report, "yaml/limit")


def test_fifty_megabyte_file(repo: Path) -> None:
    path = repo / "apps/base/huge.yaml"
    with path.open("wb") as handle:
        handle.write(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: huge\ndata:\n  blob: x\n#")
        handle.truncate(50 * 1024 * 1024)
    add_resource(repo, "huge.yaml")
    code, report, _ = check(repo)
    assert code == 1
    assert findings(report, "yaml/too-large") == [("apps/base/huge.yaml", 1)]
    assert_folded_into(report, "yaml/too-large")


def test_non_utf8_file(repo: Path) -> None:
    (repo / "apps/base/latin1.yaml").write_bytes(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caf\xe9\n"
    )
    code, report, _ = check(repo)
    assert code == 1
    assert findings(report, "yaml/encoding") == [("apps/base/latin1.yaml", 4)]


def test_empty_document(repo: Path) -> None:
    path = repo / "apps/base/widget.yaml"
    path.write_text(path.read_text() + "---\n---\nkind: Note\n")
    code, report, _ = check(repo)
    assert code == 1
    assert findings(report, "yaml/empty-document") == [("apps/base/widget.yaml", 14)]  # the stray ---


@pytest.mark.parametrize(("content", "line"), [("- a\n- b\n", 1), ("kind: X\n---\n42\n", 3)])
def test_top_level_list_or_scalar(repo: Path, content: str, line: int) -> None:
    (repo / "clusters/demo/odd.yaml").write_text(content)
    code, report, _ = check(repo)
    assert code == 1
    assert findings(report, "yaml/not-an-object") == [("clusters/demo/odd.yaml", line)]


def test_kustomization_references_a_missing_file(repo: Path) -> None:
    add_resource(repo, "missing.yaml")
    code, report, _ = check(repo)
    assert code == 1
    assert findings(report, "render/missing-reference") == [("apps/base/kustomization.yaml", 7)]


def test_kustomization_references_a_path_outside_the_repository(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\n")
    add_resource(repo, "../../../elsewhere/cm.yaml")
    code, report, _ = check(repo)
    assert code == 1
    assert findings(report, "render/outside-repository") == [("apps/base/kustomization.yaml", 7)]


def test_symlink_out_of_the_repository(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\n")
    os.symlink(outside, repo / "apps/base/link.yaml")
    add_resource(repo, "link.yaml")
    code, report, _ = check(repo)
    assert code == 1
    assert findings(report, "yaml/symlink-outside-repository") == [("apps/base/link.yaml", 1)]
    assert findings(report, "render/outside-repository") == [("apps/base/kustomization.yaml", 7)]


def test_flux_cycle(repo: Path) -> None:
    path = repo / "clusters/demo/infra.yaml"
    path.write_text(path.read_text().replace("spec:\n", "spec:\n  dependsOn:\n    - name: apps\n"))
    code, report, _ = check(repo)
    assert code == 1
    [cycle] = [f for f in report["findings"] if f["rule"] == "flux/dependency-cycle"]
    assert cycle["file"] == "clusters/demo/apps.yaml" and cycle["line"] == 8


def test_broken_config_file_is_a_finding_with_file_and_line(repo: Path) -> None:
    # the repository's own file: a finding (exit 1, the report is still produced), not a tool failure
    (repo / ".mlplatform.yaml").write_text("strict: true\nschema_locations: not-a-list\n")
    code, report, _ = check(repo)
    assert code == 1
    [finding] = [f for f in report["findings"] if f["rule"] == "config/invalid-value"]
    assert (finding["file"], finding["line"]) == (".mlplatform.yaml", 2)
    assert finding["message"].startswith(
        "schema_locations: expected a list of paths or URL templates, got 'not-a-list'"
    )


def test_no_repository_is_exit_2(tmp_path: Path) -> None:
    code, _, stderr = check(tmp_path / "nothing-here")
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1 and "repository not found" in stderr


def test_unknown_cluster_is_exit_2(repo: Path) -> None:
    code, _, stderr = check(repo, "--cluster", "mars")
    assert code == 2
    assert "unknown cluster(s): mars" in stderr


def test_broken_kustomization_file_is_reported_once(repo: Path) -> None:
    path = repo / "apps/base/kustomization.yaml"
    path.write_text(path.read_text().replace("resources:\n", "resources: [\n", 1))
    code, report, _ = check(repo)
    assert code == 1
    syntax = [f for f in report["findings"] if f["file"] == "apps/base/kustomization.yaml"]
    assert [(f["rule"], f["line"]) for f in syntax] == [("yaml/syntax", 4)]


def test_missing_kustomize_binary_is_exit_2(repo: Path) -> None:
    proc = run_cli("check", "--repo", str(repo), env={"MLPLATFORM_KUSTOMIZE": "/nonexistent/kubectl"})
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == "error: kustomize binary not found: /nonexistent/kubectl (from MLPLATFORM_KUSTOMIZE)"
    )


def test_hanging_kustomize_times_out(repo: Path, tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "kubectl"
    fake.parent.mkdir()
    fake.write_text(
        '#!/bin/sh\nif [ "$1" = version ]; then echo "Client Version: v0.0.0";'
        ' echo "Kustomize Version: v0.0.0"; exit 0; fi\nexec sleep 30\n'
    )
    fake.chmod(0o755)
    config = repo / ".mlplatform.yaml"
    config.write_text(config.read_text() + "kustomize_timeout: 1\n")
    started = time.perf_counter()
    proc = run_cli("check", "--repo", str(repo), "--format", "json", env={"MLPLATFORM_KUSTOMIZE": str(fake)})
    assert time.perf_counter() - started < 20
    assert proc.returncode == 1
    [finding] = [f for f in json.loads(proc.stdout)["findings"] if f["rule"] == "render/kustomize-limit"]
    assert (
        "timed out after 1s" in finding["message"] and finding["file"] == "clusters/demo/kustomization.yaml"
    )
