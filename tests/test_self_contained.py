"""A clone of this repository is all a newcomer needs: nothing outside it is read, and the README's set-up works."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from helpers import REPO_ROOT, copy_repo, run_cli


def test_nothing_cites_or_reads_files_outside_the_repository() -> None:
    # The design notes beside the original checkout; spelled in pieces so that this file does not match itself.
    outside = ["\\.\\./" + "shared", "REFERENCE" + ".md", "ARCHITECTURE" + ".md"]
    done = subprocess.run(
        ["git", "grep", "-n", "-e", outside[0], "-e", outside[1], "-e", outside[2]],
        cwd=REPO_ROOT, capture_output=True, text=True,
    )
    if done.returncode == 128:
        pytest.skip("not a git checkout")
    assert done.stdout == "", done.stdout  # git grep exits 1 when nothing matches


def test_a_copy_with_nothing_beside_it_checks_clean_with_its_own_settings(tmp_path: Path) -> None:
    """No --schema-location: .mlplatform.yaml names the vendored schemas, and every custom resource has one."""
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    repo = copy_repo(lonely)
    assert sorted(p.name for p in lonely.iterdir()) == ["repo"]
    proc = run_cli("check", "--repo", str(repo), "--format", "json")
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, [f for f in report["findings"] if f["severity"] != "info"]
    assert not [f for f in report["findings"] if f["rule"].startswith("schema/")]


def test_the_readme_activation_puts_the_cli_on_path() -> None:
    activate = REPO_ROOT / ".venv" / "bin" / "activate"
    if not activate.is_file():
        pytest.skip("no .venv: the suite runs from `make test`, which creates it")
    done = subprocess.run(["bash", "-c", "source .venv/bin/activate && command -v mlplatform && mlplatform --version"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == str(REPO_ROOT / ".venv" / "bin" / "mlplatform")
    assert "mlplatform" in done.stdout.splitlines()[1]
    readme = (REPO_ROOT / "README.md").read_text()
    assert "source .venv/bin/activate" in readme


def test_the_readme_names_how_to_set_up_and_redraw_the_pictures_with_real_make_targets() -> None:
    """A newcomer read only that `make test` runs ensure-pictures.sh: the README names `make pictures-setup`
    (the picture tools alone) and `make images`, and every `make X` it names is a target of the Makefile."""
    readme = (REPO_ROOT / "README.md").read_text()
    makefile = (REPO_ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w.-]+):", makefile, re.M))
    named = set(re.findall(r"`make ([\w-]+)`", readme))
    assert {"pictures-setup", "images"} <= named, named
    assert named <= targets, named - targets
