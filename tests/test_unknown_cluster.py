"""Every command that takes --cluster says the same one line for a name that is no cluster, and exits 2 (a
newcomer saw `plan` word it one way and `check`, `graph`, `report` another; `diff` accepted it as "0 changed")."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import FIXTURES, run_cli

COMMANDS = [("check",), ("validate",), ("render",), ("graph",), ("report",), ("plan",), ("rules",), ("gen",),
            ("fix",), ("diff", "--base", "HEAD"), ("charts", "pull", "--dry-run")]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small Flux fixture (one cluster, `demo`) as a git repository, so that `diff --base HEAD` runs."""
    target = tmp_path_factory.mktemp("unknown-cluster") / "flux-basic"
    shutil.copytree(FIXTURES / "repos" / "flux-basic", target)
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    for args in (["init", "--quiet"], ["add", "--all"], ["commit", "--quiet", "-m", "base"]):
        subprocess.run(["git", *identity, *args], cwd=target, check=True, capture_output=True)
    return target


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_an_unknown_cluster_is_one_line_in_one_wording_and_exit_2(repo: Path, command: tuple[str, ...]) -> None:
    done = run_cli(*command, "--repo", str(repo), "--cluster", "nope")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines() == ["error: unknown cluster(s): nope (available: demo)"], done.stderr
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True)
    assert status.stdout == ""  # nothing written (fix, gen, report) before the name is checked


def test_every_unknown_name_is_listed_and_a_known_one_is_not(repo: Path) -> None:
    done = run_cli("plan", "--repo", str(repo), "--cluster", "demo", "--cluster", "nope", "--cluster", "mars")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: unknown cluster(s): nope, mars (available: demo)"
