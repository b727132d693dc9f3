"""Shared fixtures: the repository root, the vendored CRD schemas, the kustomize binary, repository copies.

Plain helpers live in helpers.py (import them from there, not from conftest).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import idrecorder
from helpers import REPO_ROOT, copy_repo, crd_schema_dir


def pytest_configure(config: pytest.Config) -> None:
    idrecorder.start()


def _id_base(config: pytest.Config) -> Path | None:
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        return None
    base = factory.getbasetemp()
    # an xdist worker's base is <controller base>/popen-gwN: the ids go to the controller's
    return base.parent if hasattr(config, "workerinput") else base


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Every finding id the suite saw must be in the rule catalog (idrecorder.py)."""
    base = _id_base(session.config)
    if base is None:
        return
    worker = getattr(session.config, "workerinput", {}).get("workerid")
    if worker is not None:
        idrecorder.save(base, worker)
        return
    missing = idrecorder.unknown(idrecorder.load_all(base))
    if missing:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(f"finding ids not in the rule catalog (tools/mlplatform/rulecatalog.py): {missing}",
                                red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def crd_schemas() -> Path:
    path = crd_schema_dir()
    if not path.is_dir():
        pytest.fail(f"CRD schemas not found at {path}: the repository vendors them in schemas/crds/")
    return path


@pytest.fixture(scope="session")
def kustomize_bin() -> str:
    """The real kustomize: MLPLATFORM_KUSTOMIZE (set by make), else kustomize/kubectl on PATH, else .tools."""
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


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    return copy_repo(tmp_path)


@pytest.fixture(scope="session")
def promtool_bin() -> str:
    """The real promtool: MLPLATFORM_PROMTOOL (set by make), else promtool on PATH, else .tools/bin."""
    explicit = os.environ.get("MLPLATFORM_PROMTOOL")
    if explicit:
        return explicit
    found = shutil.which("promtool")
    if found:
        return found
    local = REPO_ROOT / ".tools" / "bin" / "promtool"
    if local.exists():
        return str(local)
    pytest.fail("no promtool: run `make test`, which provides one (scripts/ensure-promtool.sh)")
