"""Shared fixtures: the repository root, the shared CRD schemas, the kustomize binary, repository copies."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Directories a copy of the repository does not need (environments, caches, provisioned binaries).
_COPY_IGNORE = shutil.ignore_patterns(".venv", ".venv-checkov", ".tools", ".git", "__pycache__", "*.egg-info",
                                      ".pytest_cache", ".hypothesis", ".ruff_cache", ".terraform")


def shared_dir() -> Path:
    return Path(os.environ.get("MLPLATFORM_SHARED", REPO_ROOT.parent / "shared")).resolve()


def crd_schema_dir() -> Path:
    return shared_dir() / "crd-schemas"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def crd_schemas() -> Path:
    path = crd_schema_dir()
    if not path.is_dir():
        pytest.fail(f"CRD schemas not found at {path}; set MLPLATFORM_SHARED to the shared/ directory")
    return path


@pytest.fixture(scope="session")
def kustomize_bin() -> str:
    """The real kustomize: MLPLATFORM_KUSTOMIZE (set by make), else kubectl/kustomize on PATH."""
    explicit = os.environ.get("MLPLATFORM_KUSTOMIZE")
    if explicit:
        return explicit
    for name in ("kustomize", "kubectl"):
        found = shutil.which(name)
        if found:
            return found
    local = REPO_ROOT / ".tools" / "bin" / "kubectl"
    if local.exists():
        return str(local)
    pytest.fail("no kustomize: run `make test`, which provides one")


def copy_repo(dest: Path) -> Path:
    """A full copy of this repository (without environments), for mutation tests; returns its root."""
    target = dest / "repo"
    shutil.copytree(REPO_ROOT, target, ignore=_COPY_IGNORE, symlinks=True)
    return target


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    return copy_repo(tmp_path)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed console script as a user would; never raises on a non-zero exit."""
    exe = shutil.which("mlplatform") or str(Path(os.sys.executable).parent / "mlplatform")
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([exe, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)
