"""Every command takes --repo (README.md, the CLI): `mig` accepts it, `rules` checks --repo and --cluster."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_cli


def test_mig_validate_and_layouts_accept_repo(repo_root: Path) -> None:
    proc = run_cli("mig", "validate", "--repo", str(repo_root), "--gpu", "A100-40GB", "3g.20gb=2",
                   "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["valid"] is True
    proc = run_cli("mig", "layouts", "--repo", str(repo_root), "--gpu", "A100-40GB", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["layouts"]
    help_text = " ".join(run_cli("mig", "validate", "--help").stdout.split())
    assert "--repo" in help_text and "does not depend on the repository" in help_text


def test_rules_with_a_missing_repo_is_exit_2_with_one_line(tmp_path: Path) -> None:
    proc = run_cli("rules", "--repo", str(tmp_path / "nonexistent"))
    assert proc.returncode == 2
    assert proc.stdout == "" and proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("error: repository not found")


def test_rules_with_an_unknown_cluster_is_exit_2(repo_root: Path) -> None:
    for extra in ((), ("--placement",)):
        proc = run_cli("rules", "--repo", str(repo_root), "--cluster", "nope", *extra)
        assert proc.returncode == 2, proc.stdout
        assert proc.stderr.strip().count("\n") == 0 and "unknown cluster(s): nope" in proc.stderr
    proc = run_cli("rules", "--repo", str(repo_root), "--cluster", "staging", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rules"]
