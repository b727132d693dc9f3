"""`mlplatform render --out DIR`: atomic files, names that cannot collide, no file overwritten that the command
did not write, and what rendered is written even when another build failed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from helpers import run_cli
from mlplatform.render_out import LEDGER, file_names

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
    assert failed.returncode == 1, failed.stderr  # the exit code still reports the finding
    assert "Traceback" not in failed.stderr
    assert "wrote 2 file(s)" in failed.stderr
    assert "previous file kept (the build failed): flux-system-apps.yaml" in failed.stderr
    assert "apps/base/kustomization.yaml" in failed.stderr  # the finding, with its file
    # The failed Kustomization's good file is kept, the others rewritten identically, no temporary files.
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_failed_build_writes_what_rendered_and_exits_1(repo: Path, tmp_path: Path) -> None:
    (repo / "apps" / "base" / "kustomization.yaml").write_text("resources: [no-such-file.yaml]\n")
    out = tmp_path / "fresh"
    result = _render(repo, out)
    assert result.returncode == 1
    assert sorted(p.name for p in out.iterdir()) == [LEDGER, "flux-system-flux-system.yaml", "flux-system-infra.yaml"]


def test_a_file_the_command_did_not_write_is_refused_not_overwritten(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale = out / "flux-system-apps.yaml"
    stale.write_text("mine: true\n")
    result = _render(repo, out)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "refusing to overwrite flux-system-apps.yaml" in errors[0]
    assert stale.read_text() == "mine: true\n" and sorted(p.name for p in out.iterdir()) == [stale.name]
    # Its own files it rewrites; one a person edited since is theirs again.
    stale.unlink()
    assert _render(repo, out).returncode == 0
    assert _render(repo, out).returncode == 0
    stale.write_text(stale.read_text() + "# edited\n")
    again = _render(repo, out)
    assert again.returncode == 2 and stale.read_text().endswith("# edited\n")


def test_file_names_cannot_collide() -> None:
    keys = [("a-b", "c"), ("a", "b-c"), ("flux-system", "apps"), ("ns", "Bad/Name"), ("ns", "bad_name")]
    names = file_names(keys)
    assert len(set(names.values())) == len(keys)
    assert names[("flux-system", "apps")] == "flux-system-apps.yaml"  # unambiguous names stay readable
    assert names[("a-b", "c")] != "a-b-c.yaml" and names[("a", "b-c")].startswith("a-b-c-")
    assert all("/" not in name and len(name) < 255 for name in names.values())


def test_rewrite_replaces_content_atomically_without_leftovers(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _render(repo, out).returncode == 0
    stale = out / "flux-system-apps.yaml"
    result = _render(repo, out)
    assert result.returncode == 0, result.stderr
    assert "wrote 3 file(s)" in result.stderr
    docs = [d for d in yaml.safe_load_all(stale.read_text()) if d]
    assert len(docs) == 6 and all("kind" in d for d in docs)
    assert sorted(p.name for p in out.iterdir()) == [
        LEDGER, "flux-system-apps.yaml", "flux-system-flux-system.yaml", "flux-system-infra.yaml"]
    assert oct(stale.stat().st_mode & 0o777) == oct(0o644)


def test_two_kustomizations_with_one_readable_name_both_land_on_disk(repo: Path, tmp_path: Path) -> None:
    # flux/system-infra and flux-system/infra both read "flux-system-infra": one set of objects used to vanish.
    clash = (repo / "clusters" / "demo" / "infra.yaml").read_text().replace(
        "  name: infra\n  namespace: flux-system\n", "  name: system-infra\n  namespace: flux\n"
    ).replace("    name: flux-system\n", "    name: flux-system\n    namespace: flux-system\n")
    (repo / "clusters" / "demo" / "clash.yaml").write_text(clash)
    kustomization = repo / "clusters" / "demo" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - clash.yaml\n")
    out = tmp_path / "out"
    result = _render(repo, out)
    assert "Traceback" not in result.stderr and "wrote 4 file(s)" in result.stderr, result.stderr
    names = sorted(p.name for p in out.iterdir() if p.name != LEDGER)
    assert len(names) == 4 and "flux-system-infra.yaml" not in names  # both got a name that cannot collide
    infra = [n for n in names if n.startswith("flux-system-infra-")]
    assert len(infra) == 2 and all((out / n).read_text().count("kind:") >= 1 for n in infra)


def test_a_kustomization_that_lost_an_object_keeps_its_previous_file(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _render(repo, out).returncode == 0
    before = (out / "flux-system-apps.yaml").read_bytes()
    # An unset variable without default: the Deployment cannot be substituted and drops out of the output.
    deployment = repo / "apps" / "base" / "deployment.yaml"
    deployment.write_text(deployment.read_text().replace("${tier:=standard}", "${no_such_variable}"))
    result = _render(repo, out)
    assert result.returncode == 1 and "no_such_variable" in result.stderr
    assert "previous file kept (the build failed): flux-system-apps.yaml" in result.stderr
    assert (out / "flux-system-apps.yaml").read_bytes() == before  # not replaced by output without the Deployment
