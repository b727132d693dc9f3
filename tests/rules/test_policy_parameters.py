"""The rules' parameters (policies/*.yaml): typed when loaded, defaults declared once in rules/_params.py, and
every problem a finding at its file and line (never an exception out of load_policy)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from rulekit import REPO, make_context

from mlplatform.rules import _params, load_policy, run_rules
from mlplatform.rules._policy import Policy


def policies(tmp_path: Path, files: dict[str, str]) -> Path:
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    for name, text in files.items():
        (tmp_path / "policies" / name).write_text(text)
    return tmp_path


def problems(policy: Policy) -> list[tuple[str, str | None, int | None]]:
    return [(f.rule, f.file, f.line) for f in policy.problems]


def test_the_repositorys_policies_load_clean_and_as_written() -> None:
    policy = load_policy(REPO, "production")
    assert policy.problems == [] and policy.missing == []
    raw = yaml.safe_load((REPO / "policies/workload-checks.yaml").read_text())
    assert policy.workload_checks["restart"] == raw["restart"]
    sharing = yaml.safe_load((REPO / "policies/gpu-sharing.yaml").read_text())
    assert policy.gpu_sharing["time_slicing_replicas"] == sharing["time_slicing_replicas"]
    assert policy.gpu_sharing["gpu_taint_keys"] == sharing["gpu_taint_keys"]


def test_min_backoff_limit_one_is_a_finding_at_its_line(tmp_path: Path) -> None:
    repo = policies(tmp_path, {"workload-checks.yaml": "checkpoint:\n  annotation: a/b\nrestart:\n"
                                                       "  min_backoff_limit: one\n"})
    policy = load_policy(repo)
    assert problems(policy) == [("policy/invalid-parameter", "policies/workload-checks.yaml", 4)]
    assert "restart.min_backoff_limit: expected a whole number" in policy.problems[0].message
    assert "'one'" in policy.problems[0].message and "spot-restart" in policy.problems[0].message
    # the rule runs with the declared default; the valid neighbour is kept
    default = next(p.default for p in _params.WORKLOAD_CHECKS if p.key == "restart.min_backoff_limit")
    assert policy.workload_checks["restart"]["min_backoff_limit"] == default
    assert policy.workload_checks["checkpoint"]["annotation"] == "a/b"


@pytest.mark.parametrize(
    ("name", "text", "line", "rule"),
    [
        ("workload-checks.yaml", "restart:\n  min_backof_limit: 2\n", 2, "policy/unknown-parameter"),
        ("workload-checks.yaml", "required_request: [cpu]\n", 1, "policy/unknown-parameter"),
        ("workload-checks.yaml", "restart: 3\n", 1, "policy/invalid-parameter"),
        ("gpu-sharing.yaml", "device_plugin_configmap:\n  name: 3\n", 2, "policy/invalid-parameter"),
        ("gpu-sharing.yaml", "time_slicing_replicas: {min: 8, max: 2}\n", 1, "policy/invalid-parameter"),
        ("gpu-sharing.yaml", "fail_requests_greater_than_one: 'no'\n", 1, "policy/invalid-parameter"),
        ("gpu-sharing.yaml", "memory_cap:\n  mechanisms: []\n", 2, "policy/invalid-parameter"),
        ("gpu-daemonsets.yaml", "daemonsets: {name: x}\n", 1, "policy/invalid-parameter"),
        ("gpu-daemonsets.yaml", "- daemonsets\n", 1, "policy/file-unreadable"),
        ("gpu-daemonsets.yaml", "daemonsets: [\n", 2, "policy/file-unreadable"),
        ("workload-pools.yaml", "types:\n  a:\n    pools: [cpu]\n    high_availability: 'yes'\n", 4,
         "policy/invalid-parameter"),
        ("workload-pools.yaml", "types:\n  a:\n    pools: [cpu]\n    priority: x\n", 4, "policy/invalid-parameter"),
        ("workload-pools.yaml", "untyped_pools: cpu\n", 1, "policy/invalid-parameter"),
        ("workload-pools.yaml", "type: {}\n", 1, "policy/unknown-parameter"),
    ],
)
def test_each_problem_is_a_finding_at_its_line(tmp_path: Path, name: str, text: str, line: int, rule: str) -> None:
    policy = load_policy(policies(tmp_path, {name: text}))
    assert (rule, f"policies/{name}", line) in problems(policy)


def test_defaults_are_declared_once_and_rules_read_them() -> None:
    policy = Policy()  # no policy files at all
    for params, values in ((_params.WORKLOAD_CHECKS, policy.workload_checks),
                           (_params.GPU_SHARING, policy.gpu_sharing),
                           (_params.GPU_DAEMONSETS, policy.gpu_daemonsets)):
        for param in params:
            node = values
            for part in param.key.split("."):
                node = node[part]
            assert node == param.default, param.key
            if param.default is not None:
                assert param.parse(param.default) == param.default, f"{param.key}: default fails its own type"


def test_run_rules_reports_policy_problems_once_per_cluster(tmp_path: Path) -> None:
    repo = policies(tmp_path, {"workload-checks.yaml": "restart:\n  min_backoff_limit: -1\n"})
    ctx = make_context([], repo=repo)
    found = [f for f in run_rules(ctx) if (f.file or "").startswith("policies/")]
    assert [(f.rule, f.file, f.line, f.cluster) for f in found] == [
        ("policy/invalid-parameter", "policies/workload-checks.yaml", 2, "production")]


def test_policies_rules_md_lists_every_parameter() -> None:
    text = (REPO / "policies/rules.md").read_text()
    rows = {line.split("|")[2].strip().strip("`") for line in text.splitlines() if line.startswith("| `")
            and line.count("|") >= 6}
    declared = {p.key for params in _params.PARAMETERS.values() for p in params}
    assert declared <= rows, sorted(declared - rows)


def test_a_policy_file_linked_out_of_the_repository_is_not_read(tmp_path: Path) -> None:
    repo = policies(tmp_path / "repo", {})
    outside = tmp_path / "outside.yaml"
    outside.write_text("restart:\n  min_backoff_limit: 9\n")
    (repo / "policies/workload-checks.yaml").unlink()
    (repo / "policies/workload-checks.yaml").symlink_to(outside)
    policy = load_policy(repo)
    assert problems(policy) == [("policy/file-unreadable", "policies/workload-checks.yaml", 1)]
    assert policy.workload_checks["restart"]["min_backoff_limit"] == 1
