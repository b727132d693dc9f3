"""The routing rule at the command line: exit 2 with one line only when the tool cannot do its job (a usage
error, no repository); a problem in a file of the repository is exit 1 with its file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import FIXTURES, run_cli


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("bogus",), "No such command 'bogus'"),
        (("check", "--bogus"), "No such option '--bogus'"),
        (("check", "--format", "xml"), "Invalid value for '--format'"),
        (("check", "--jobs", "0"), "Invalid value for '--jobs'"),
        (("plan", "--time-limit", "nope"), "Invalid value for '--time-limit'"),
        (("diff",), "Missing option '--base'"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(args: tuple[str, ...], says: str) -> None:
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line.startswith("error: ") and says in line
    command = "mlplatform" if args[0] == "bogus" else f"mlplatform {args[0]}"
    assert line.endswith(f"(see '{command} --help')"), line


def test_help_and_version_still_exit_0() -> None:
    assert run_cli("--help").returncode == 0
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("mlplatform, version ")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(FIXTURES / "repos" / "flux-basic", target)
    shutil.copytree(FIXTURES / "bad-input" / "_base", target, dirs_exist_ok=True)
    return target


def test_plan_with_a_pool_file_it_cannot_load_is_exit_1_at_the_line(repo: Path) -> None:
    path = repo / "terraform/environments/demo/node-pools.yaml"
    text = path.read_text()
    path.write_text(text.replace("    taints: []\n", "    taints: {gpu: NoSchedule}\n", 1))
    line = text[: text.index("    taints: []\n")].count("\n") + 1
    proc = run_cli("plan", "--repo", str(repo))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == (
        f"error: terraform/environments/demo/node-pools.yaml:{line}: pools.cpu.taints: expected a list"
    )


def test_a_command_other_than_check_stops_at_a_bad_setting_with_exit_1(repo: Path) -> None:
    (repo / ".mlplatform.yaml").write_text("strict: false\nkustomize: ./render-nothing.sh\n")
    proc = run_cli("render", "--repo", str(repo), "--cluster", "demo")
    assert proc.returncode == 1
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    # the line `check` prints for the same finding
    assert line.startswith(".mlplatform.yaml:2: error config/names-a-binary: setting 'kustomize' names a program")


def test_rules_placement_with_a_bad_policy_is_exit_1_at_the_line(repo: Path) -> None:
    shutil.copytree(FIXTURES.parent.parent / "policies", repo / "policies")
    (repo / "policies/workload-checks.yaml").write_text("restart:\n  min_backoff_limit: one\n")
    proc = run_cli("rules", "--placement", "--repo", str(repo), "--cluster", "demo")
    assert proc.returncode == 1
    [line] = [x for x in proc.stderr.splitlines() if x.startswith("error")]
    assert line.startswith("error: policies/workload-checks.yaml:2: restart.min_backoff_limit: expected a whole number")
    assert line.endswith("[policy/invalid-parameter]")


def test_a_pool_file_linked_out_of_the_repository_is_not_read(repo: Path, tmp_path: Path) -> None:
    from mlplatform.errors import InputError
    from mlplatform.pools import load_pool_file, pool_file_path

    path = pool_file_path(repo, "demo")
    outside = tmp_path / "pools-elsewhere.yaml"
    outside.write_text(path.read_text())
    path.unlink()
    path.symlink_to(outside)
    with pytest.raises(InputError) as error:
        load_pool_file(path, repo)
    assert (error.value.file, error.value.line) == ("terraform/environments/demo/node-pools.yaml", 1)
    assert "symlink out of the repository" in error.value.message
