"""SIGTERM / SIGINT during `--base`: the temporary checkout and the git worktree are gone afterwards; and a
locale that cannot encode what the output says (cli/common.py).

A real `mlplatform` process is stopped mid-run: kustomize is wrapped by a script that, for a build inside
the base worktree, leaves a marker and sleeps, so the signal arrives while the worktree is registered.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import synth  # noqa: E402 - a script directory, not a package

pytestmark = pytest.mark.xdist_group("interrupt")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def base_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("interrupt") / "repo"
    synth.generate(root, clusters=1, apps=2)
    return root


def slow_kustomize(directory: Path, real: str, marker: Path) -> Path:
    """A kustomize that sleeps on builds inside a base worktree (after saying so through `marker`)."""
    # Same base name as the real binary: the tool runs `kubectl kustomize` or `kustomize build` by name.
    (directory / "bin").mkdir()
    script = directory / "bin" / Path(real).name
    script.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *mlplatform-base-*) : > "{marker}"; sleep 2;; esac\n'
        f'exec "{real}" "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.mark.parametrize(
    ("command", "signum"),
    [
        (["plan", "--base", "main", "--time-limit", "0.2"], signal.SIGTERM),
        (["diff", "--base", "main", "--no-plan"], signal.SIGTERM),
        (["graph", "--base", "main", "--schema-location", str(REPO_ROOT / "schemas" / "crds")], signal.SIGTERM),
        (["plan", "--base", "main", "--time-limit", "0.2"], signal.SIGINT),
    ],
    ids=["plan-sigterm", "diff-sigterm", "graph-sigterm", "plan-sigint"],
)
def test_a_signal_during_base_leaves_no_worktree_and_no_temporary_checkout(
    base_repo: Path, tmp_path: Path, kustomize_bin: str, command: list[str], signum: signal.Signals
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(base_repo, repo, symlinks=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "base")
    scratch, marker = tmp_path / "tmp", tmp_path / "building-base"
    scratch.mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(scratch),
        "MLPLATFORM_KUSTOMIZE": str(slow_kustomize(tmp_path, kustomize_bin, marker)),
    }
    exe = shutil.which("mlplatform") or str(Path(sys.executable).parent / "mlplatform")
    process = subprocess.Popen(
        [exe, *command, "--repo", str(repo)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), f"the base was never built: {process.communicate(timeout=60)}"
    # Mid-run: the worktree is registered and its checkout sits in TMPDIR.
    assert len(git(repo, "worktree", "list").splitlines()) == 2
    assert any(scratch.iterdir())
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 2, stderr
    assert stderr.decode().strip().splitlines()[-1] == "error: interrupted"
    assert "Traceback" not in stderr.decode()
    assert len(git(repo, "worktree", "list").splitlines()) == 1, "a git worktree is still registered"
    assert not (repo / ".git" / "worktrees").exists() or not any((repo / ".git" / "worktrees").iterdir())
    assert list(scratch.iterdir()) == [], "the temporary checkout was left behind"


def test_a_locale_that_cannot_encode_a_file_name_gets_escapes_not_a_crash(tmp_path: Path) -> None:
    """Under an ISO-8859-1 locale a finding about `snow☃.yaml` used to end in UnicodeEncodeError (exit 2)."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "repos" / "flux-basic", repo)
    (repo / "apps" / "base" / "snow\u2603.yaml").write_text("a: [\n")
    exe = shutil.which("mlplatform") or str(Path(sys.executable).parent / "mlplatform")
    done = subprocess.run([exe, "check", "--repo", str(repo), "--cluster", "demo"], capture_output=True,
                          env={**os.environ, "PYTHONIOENCODING": "latin-1"}, timeout=300)
    output = (done.stdout + done.stderr).decode("latin-1")
    assert done.returncode == 1, output[-2000:]
    assert "internal error" not in output and "apps/base/snow\\u2603.yaml:2: error yaml/syntax" in output
