"""The CI side of docs/security.md: how a pull request's code runs, asserted on the workflow files.

A pull request (a fork's included) runs with `pull_request` only: GitHub then gives it a read-only token and
no repository secrets. `pull_request_target` or `workflow_run` would run it with the base repository's
token and secrets; combined with a checkout of the head, any PR could take them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.y*ml"))
ACTIONS = sorted((REPO_ROOT / ".github" / "actions").glob("*/action.y*ml"))
PRIVILEGED_TRIGGERS = {"pull_request_target", "workflow_run", "issue_comment"}
# scopes a job may write, and why: code-scanning upload and the sticky comments (both skipped for forks)
ALLOWED_WRITES = {"security-events", "pull-requests"}
SAME_REPOSITORY = "github.event.pull_request.head.repo.full_name == github.repository"
HEAD_REF = re.compile(r"github\.(event\.pull_request\.head|head_ref)")


def load(path: Path) -> dict[Any, Any]:
    return yaml.safe_load(path.read_text())


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    on = workflow.get(True, workflow.get("on"))  # PyYAML reads the key `on` as True
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on)


def steps(document: dict[Any, Any]) -> list[dict[str, Any]]:
    found = list((document.get("runs") or {}).get("steps") or [])
    for job in (document.get("jobs") or {}).values():
        found += job.get("steps") or []
    return found


def test_pull_requests_run_without_privileges() -> None:
    pull_request_workflows = [p for p in WORKFLOWS if "pull_request" in triggers(load(p))]
    assert pull_request_workflows, "no workflow checks pull requests"
    for path in WORKFLOWS:
        on = triggers(load(path))
        assert not PRIVILEGED_TRIGGERS & set(on), f"{path.name}: privileged trigger {PRIVILEGED_TRIGGERS & set(on)}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_the_token_is_read_only_by_default(path: Path) -> None:
    workflow = load(path)
    assert workflow.get("permissions") == {"contents": "read"}, "top-level permissions must be contents: read"
    for name, job in workflow["jobs"].items():
        permissions = job.get("permissions")
        assert permissions != "write-all" and permissions != "read-all", name
        for scope, level in (permissions or {}).items():
            if level == "write":
                assert scope in ALLOWED_WRITES, f"job {name} writes {scope}"
        assert (permissions or {}).get("contents", "read") == "read", f"job {name} writes the repository"
        assert "id-token" not in (permissions or {}), f"job {name} may mint cloud credentials"


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_the_head_is_never_checked_out_explicitly(path: Path) -> None:
    """`pull_request` checks out the merge commit by itself; naming the head ref is the pattern that turns a
    privileged trigger into remote code execution, so it is refused even here."""
    for step in steps(load(path)):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            ref = str((step.get("with") or {}).get("ref", ""))
            assert not HEAD_REF.search(ref), f"{path.name}: checkout of {ref}"
            assert (step.get("with") or {}).get("persist-credentials") is False


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_no_secret_reaches_a_shell_or_pull_request_code(path: Path) -> None:
    """Secrets appear only as an action input with a github.token fallback (a fork gets no secrets, so it
    falls back to its read-only token); never in a `run:` script or an environment a PR's code can read."""
    document = load(path)
    for job in (document.get("jobs") or {}).values():
        assert "secrets." not in yaml.safe_dump(job.get("env") or {}), "a job environment holds a secret"
    assert "secrets." not in yaml.safe_dump(document.get("env") or {}), "the workflow environment holds a secret"
    for step in steps(document):
        assert "secrets." not in str(step.get("run", "")), f"{path.name}: a secret in a run step: {step.get('name')}"
        assert "secrets." not in yaml.safe_dump(step.get("env") or {}), f"{path.name}: {step.get('name')}"
        for key, value in (step.get("with") or {}).items():
            if "secrets." in str(value):
                assert "|| github.token" in str(value), f"{path.name}: {key} has no fallback for forks"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_writing_steps_skip_fork_pull_requests(path: Path) -> None:
    """Steps that write (comments, code scanning) run only for pull requests from this repository."""
    for step in steps(load(path)):
        uses = str(step.get("uses", ""))
        if "sticky-pull-request-comment" in uses or "upload-sarif" in uses:
            assert SAME_REPOSITORY in str(step.get("if", "")), f"{path.name}: {step.get('name')}"


def test_the_workflow_names_the_kustomize_binary_from_the_set_up() -> None:
    """CI chooses kustomize by environment (the set-up's binary), which the repository cannot override."""
    text = "\n".join(path.read_text() for path in WORKFLOWS)
    runs = [line for line in text.splitlines() if "mlplatform " in line and ".venv/bin/" in line]
    assert runs
    for line in runs:
        assert 'MLPLATFORM_KUSTOMIZE="$(cat .tools/kustomize-path)"' in line, line


def test_the_threat_model_documents_the_workflow() -> None:
    text = (REPO_ROOT / "docs" / "security.md").read_text()
    for needed in ("pull_request_target", "read-only", "MLPLATFORM_KUSTOMIZE", "open"):
        assert needed in text, needed
