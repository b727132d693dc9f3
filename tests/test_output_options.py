"""Output a newcomer can read: a severity threshold, a quiet mode, exit codes in every --help."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
import pytest

from helpers import run_cli
from mlplatform.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "repos" / "flux-basic"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "flux-basic"
    shutil.copytree(FIXTURE, target)
    return target


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("command", _commands(main), ids=lambda c: " ".join(c) or "mlplatform")
def test_every_help_lists_the_exit_codes(command: tuple[str, ...]) -> None:
    proc = run_cli(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "Exit codes:" in text
    tail = text[text.index("Exit codes:"):]
    assert "\n    0 " in tail and "\n    2 " in tail
    assert "else text" not in text  # the --format help once said "text on a terminal, else text"


def test_min_severity_and_quiet(repo: Path) -> None:
    everything = json.loads(run_cli("check", "--repo", str(repo), "--format", "json", "--min-severity", "info").stdout)
    severities = {f["severity"] for f in everything["findings"]}
    assert severities == {"warning", "info"}  # the fixture: schemas missing (warnings), no policies/ (info)
    default = json.loads(run_cli("check", "--repo", str(repo), "--format", "json").stdout)
    assert {f["severity"] for f in default["findings"]} == {"warning"}  # routine infos not on every run
    assert len(default["findings"]) == len([f for f in everything["findings"] if f["severity"] == "warning"])
    quiet = run_cli("check", "--repo", str(repo), "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""  # no kustomize line
    warnings = len(default["findings"])
    assert quiet.stdout == f"0 errors, 0 warnings ({warnings} warnings not shown: --min-severity warning shows them)\n"
    # errors are never hidden: the exit code and the report agree
    path = repo / "clusters/demo/apps.yaml"
    path.write_text(path.read_text().replace("path: ./apps/demo", "path: ./apps/gone"))
    quiet = run_cli("check", "--repo", str(repo), "-q", "--format", "json")
    report = json.loads(quiet.stdout)
    assert quiet.returncode == 1 and report["findings"] and {f["severity"] for f in report["findings"]} == {"error"}
    assert report["summary"]["errors"] == len(report["findings"])
