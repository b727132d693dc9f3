"""pre-commit files: the hook we offer and this repository's own hooks are well-formed and runnable."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import yaml

from helpers import REPO_ROOT

# The keys pre-commit requires of a hook (pre_commit/clientlib.py, MANIFEST_HOOK_DICT).
REQUIRED_HOOK_KEYS = {"id", "name", "entry", "language"}
LANGUAGES = {"python", "system", "unsupported", "script", "unsupported_script", "pygrep", "fail"}
BIN = Path(sys.executable).parent
WATCHED = ["clusters/production/kustomization.yaml", "infrastructure/configs/staging/kustomization.yaml",
           "apps/base/inference/vllm/deployment.yaml", "terraform/environments/production/node-pools.yaml",
           "terraform/environments/production/main.tf", "policies/gpu-sharing.yaml", ".mlplatform.yaml"]
UNWATCHED = ["README.md", "tools/mlplatform/cli/__init__.py", "docs/runbooks/create-cluster.md"]


def load(name: str) -> object:
    return yaml.safe_load((REPO_ROOT / name).read_text())


def constraints() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def cli_commands() -> set[str]:
    from mlplatform.cli import main

    return set(main.list_commands(click.Context(main)))


def test_offered_hook_runs_our_check_once_per_commit() -> None:
    hooks = load(".pre-commit-hooks.yaml")
    assert isinstance(hooks, list) and hooks
    by_id = {hook["id"]: hook for hook in hooks}
    for hook in hooks:
        assert REQUIRED_HOOK_KEYS <= set(hook), hook
        assert hook["language"] in LANGUAGES
    hook = by_id["mlplatform-check"]
    assert hook["language"] == "python"  # pre-commit installs this repository, which provides the script
    assert hook["pass_filenames"] is False
    program, command = shlex.split(hook["entry"])
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert program in scripts
    assert command in cli_commands()


def test_offered_hook_files_regex_selects_the_platform_files() -> None:
    pattern = re.compile(load(".pre-commit-hooks.yaml")[0]["files"])
    assert all(pattern.search(path) for path in WATCHED), [p for p in WATCHED if not pattern.search(p)]
    assert not any(pattern.search(path) for path in UNWATCHED)


def test_repository_hooks_are_well_formed_and_pinned_like_ci() -> None:
    config = load(".pre-commit-config.yaml")
    pins = constraints()
    ids = []
    for repo in config["repos"]:
        assert "repo" in repo and repo["hooks"]
        assert repo["repo"] == "local" or re.fullmatch(r"[0-9a-f]{40}|v?\d+\.\d+\.\d+", str(repo.get("rev")))
        for hook in repo["hooks"]:
            ids.append(hook["id"])
            if repo["repo"] == "local":
                assert REQUIRED_HOOK_KEYS <= set(hook), hook
                assert hook["language"] in LANGUAGES
            for requirement in hook.get("additional_dependencies", []):
                name, version = requirement.split("==")
                assert pins[name.lower()] == version, f"{requirement} differs from constraints.txt"
            if "files" in hook:
                re.compile(hook["files"])
    assert {"ruff", "yamllint", "mlplatform-check"} <= set(ids)


def test_repository_hook_commands_exist_and_run() -> None:
    """Each local hook's entry runs here (ruff and yamllint on a real file, our check's --help)."""
    config = load(".pre-commit-config.yaml")
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    samples = {"ruff": ["tools/mlplatform/progress.py"], "yamllint": [".pre-commit-config.yaml"],
               "mlplatform-check": ["--help"]}
    for hook_id, args in samples.items():
        program, *rest = shlex.split(hooks[hook_id]["entry"])
        executable = REPO_ROOT / program if "/" in program else BIN / program
        assert executable.exists(), f"{hook_id}: {executable} not found"
        result = subprocess.run([str(executable), *rest, *args], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, (hook_id, result.stdout, result.stderr)
    program, command = shlex.split(hooks["mlplatform-check"]["entry"])[-2:]
    assert command in cli_commands()


def test_yamllint_hook_finds_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("key: [unclosed\n")
    entry = shlex.split(load(".pre-commit-config.yaml")["repos"][0]["hooks"][1]["entry"])
    result = subprocess.run([str(BIN / entry[0]), *entry[1:], str(broken)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "syntax error" in result.stdout
