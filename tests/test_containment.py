"""Writes stay inside the repository: `gen` never writes through a symlinked output folder (issue 16)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from helpers import REPO_ROOT
from mlplatform import contain
from mlplatform.atomic import write_text_atomically
from mlplatform.errors import ToolError
from test_hostile import limit_memory, mlplatform  # noqa: F401 - same console script as the hostile corpus

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import synth  # noqa: E402


def test_gen_refuses_a_symlinked_output_folder(tmp_path: Path) -> None:
    import subprocess

    repo, outside = tmp_path / "repo", tmp_path / "outside"
    synth.generate(repo, clusters=1, apps=2)
    outside.mkdir()
    generated = repo / "infrastructure/controllers/synth-000/generated"
    for child in generated.iterdir():
        child.unlink()
    generated.rmdir()
    generated.symlink_to(outside)
    env = {"HOME": str(tmp_path), "TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([mlplatform(), "gen", "--repo", str(repo)], capture_output=True, text=True, env=env,
                          timeout=60, preexec_fn=limit_memory)  # noqa: PLW1509
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "symlink" in proc.stderr
    assert "infrastructure/controllers/synth-000/generated" in proc.stderr
    assert list(outside.iterdir()) == [], "gen wrote outside the repository"


def test_atomic_write_refuses_links_and_paths_outside(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo/out").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ToolError, match="symlink"):
        write_text_atomically(tmp_path / "repo/out/new/file.yaml", "x", root=tmp_path / "repo")
    with pytest.raises(ToolError, match="outside"):
        write_text_atomically(tmp_path / "elsewhere/file.yaml", "x", root=tmp_path / "repo")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_bad_names_and_contained_walks(tmp_path: Path) -> None:
    assert "NUL" in (contain.bad_name("a\0b") or "")
    assert "255" in (contain.bad_name("x" * 300) or "")
    assert contain.bad_name("apps/base/ok.yaml") is None
    repo = tmp_path / "repo"
    (repo / "d/sub").mkdir(parents=True)
    (repo / "d/sub/up").symlink_to("..")
    (repo / "d/out").symlink_to(tmp_path)
    (repo / "d/a.yaml").write_text("a: 1\n")
    kinds = {(e.path.name, e.kind) for e in contain.walk(repo, repo / "d", lambda d: True)}
    assert ("a.yaml", "file") in kinds and ("out", "outside") in kinds and ("up", "loop") in kinds
