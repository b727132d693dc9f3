"""`mlplatform render --out DIR`: files are written atomically, and a failed build writes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from helpers import run_cli

FIXTURE = Path(__file__).parent / "fixtures" / "repos" / "flux-basic"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "flux-basic"
    shutil.copytree(FIXTURE, target)
    return target


def _render(repo: Path, out: Path):
    return run_cli("render", "--repo", str(repo), "--cluster", "demo", "--out", str(out))


def test_failed_build_keeps_the_good_files_and_exits_1(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    good = _render(repo, out)
    assert good.returncode == 0, good.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert before and all(before.values())

    # Break one Flux Kustomization's build: a resource that does not exist.
    kustomization = repo / "apps" / "base" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("  - widget.yaml\n", "  - no-such-file.yaml\n"))
    failed = _render(repo, out)
    assert failed.returncode == 1, failed.stderr
    assert "Traceback" not in failed.stderr
    assert "wrote" not in failed.stderr and "nothing written" in failed.stderr
    assert "apps/base/kustomization.yaml" in failed.stderr  # the finding, with its file
    # Nothing was touched: same files, same bytes, no temporary files left.
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_failed_build_does_not_create_the_out_directory(repo: Path, tmp_path: Path) -> None:
    (repo / "apps" / "base" / "kustomization.yaml").write_text("resources: [no-such-file.yaml]\n")
    out = tmp_path / "fresh"
    result = _render(repo, out)
    assert result.returncode == 1
    assert not out.exists()


def test_rewrite_replaces_content_atomically_without_leftovers(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale = out / "flux-system-apps.yaml"
    stale.write_text("stale: true\n")
    result = _render(repo, out)
    assert result.returncode == 0, result.stderr
    assert "wrote 3 file(s)" in result.stderr
    docs = [d for d in yaml.safe_load_all(stale.read_text()) if d]
    assert len(docs) == 6 and all("kind" in d for d in docs)
    assert sorted(p.name for p in out.iterdir()) == [
        "flux-system-apps.yaml", "flux-system-flux-system.yaml", "flux-system-infra.yaml"]
    assert oct(stale.stat().st_mode & 0o777) == oct(0o644)
