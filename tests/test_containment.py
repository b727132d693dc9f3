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


def _soft_address_space_of(command: list[str]) -> int:
    """The RLIMIT_AS soft limit (bytes) the last program of `command` runs with, as /proc reports it."""
    import subprocess

    script = "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0])"
    proc = subprocess.run([*command, sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          check=True)
    return int(proc.stdout)


def test_children_run_with_the_address_space_cap() -> None:
    # limited_command's shell sets the soft limit and execs the program itself (no preexec_fn: see contain.py)
    cap = 700 * 1024 * 1024
    command = contain.limited_command([], cap)
    assert command[0] == "/bin/sh"
    assert _soft_address_space_of(command) == cap


def test_the_cap_never_rises_above_this_process_limit() -> None:
    import subprocess

    # a child process whose own soft limit is lower: the cap it computes is that limit, not the default
    script = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (900 * 2**20, resource.RLIM_INFINITY)); "
              "sys.path.insert(0, sys.argv[1]); from mlplatform import contain; "
              "print(contain.address_space_limit())")
    proc = subprocess.run([sys.executable, "-c", script, str(REPO_ROOT / "tools")], capture_output=True,
                          text=True, timeout=60, check=True)
    assert int(proc.stdout) == 900 * 2**20 < contain.KUSTOMIZE_MEMORY_BYTES
    assert contain.address_space_limit(2**20) == 2**20


def test_a_kustomize_that_cannot_start_is_a_tool_error(tmp_path: Path) -> None:
    from mlplatform.render import KustomizeTool, run_kustomize

    missing = KustomizeTool(path=str(tmp_path / "no-such-kustomize"), flavour="kustomize", version="v5.5.0")
    with pytest.raises(ToolError, match="cannot run .*no-such-kustomize.*not found"):
        run_kustomize(missing, tmp_path, timeout=30)
    not_executable = tmp_path / "kustomize"
    not_executable.write_text("not a program\n")
    with pytest.raises(ToolError, match="cannot run .*Permission denied"):
        run_kustomize(KustomizeTool(path=str(not_executable), flavour="kustomize", version="v5.5.0"), tmp_path,
                      timeout=30)
    assert contain.not_started(1, "", "exec: something in kustomize's own message") is None
    assert contain.not_started(127, "output", "exec: x: not found") is None
