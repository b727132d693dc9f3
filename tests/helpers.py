"""Helpers shared by the tests: paths, the repository copy and running the CLI (import as `helpers`).

Kept out of conftest.py because pytest loads every conftest.py as a module named `conftest`: a second one in
a sub-directory would shadow the first for `from helpers import ...`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import idrecorder

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Directories a copy of the repository does not need (environments, caches, provisioned binaries).
_COPY_IGNORE = shutil.ignore_patterns(".venv", ".venv-checkov", ".tools", ".git", "__pycache__", "*.egg-info",
                                      ".pytest_cache", ".hypothesis", ".ruff_cache", ".terraform", ".mutation",
                                      ".mlplatform-cache")


def crd_schema_dir() -> Path:
    """The CRD schemas vendored in the repository (schemas/crds/, see its README.md)."""
    return REPO_ROOT / "schemas" / "crds"


def copy_repo(dest: Path) -> Path:
    """A full copy of this repository (without environments), for mutation tests; returns its root."""
    target = dest / "repo"
    shutil.copytree(REPO_ROOT, target, ignore=_COPY_IGNORE, symlinks=True)
    return target


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed console script as a user would; never raises on a non-zero exit."""
    exe = shutil.which("mlplatform") or str(Path(sys.executable).parent / "mlplatform")
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([exe, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)
    idrecorder.record_output(proc.stdout)  # ids the CLI reported, checked against the catalog at session end
    return proc


def edit_copy(repo: Path, rel: str, old: str, new: str, count: int = 1) -> int:
    """Replace `old`, which must occur exactly `count` times, in a file of a repository copy (a mutated-copy
    test reintroducing a fault); returns the 1-based line where the first occurrence starts."""
    path = repo / rel
    text = path.read_text()
    assert text.count(old) == count, (rel, old, text.count(old))
    path.write_text(text.replace(old, new))
    return text[: text.index(old)].count("\n") + 1
