"""policies/*.yaml: loaded as data, per-cluster overrides, clear errors, and defaults when absent."""

from __future__ import annotations

import shutil
from pathlib import Path

from rulekit import REPO, make_context

from mlplatform.rules import load_policy, run_rules


def test_repository_policies_load():
    policy = load_policy(REPO, "production")
    assert policy.missing == []
    assert policy.types["production-inference"].pools == ["a100-mig"]
    assert policy.types["training"].pools == ["a100-timeslice", "h100-timeslice"]
    assert policy.types["training-spot"].pools == ["a100-timeslice-spot"]
    assert policy.types["fine-tuning"].pools == ["h100-timeslice"]
    assert all(policy.types[t].pools == ["cpu"] for t in ("agents", "mlops", "control"))
    assert policy.types["production-inference"].high_availability


def test_cluster_override_replaces_a_type(tmp_path: Path):
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    path = tmp_path / "policies" / "workload-pools.yaml"
    path.write_text(
        path.read_text().replace(
            "clusters: {}",
            "clusters:\n  staging:\n    types:\n      research:\n        pools: [a100-timeslice, h100-timeslice]\n",
        )
    )
    assert load_policy(tmp_path, "staging").types["research"].pools == ["a100-timeslice", "h100-timeslice"]
    assert load_policy(tmp_path, "production").types["research"].pools == ["a100-timeslice"]


def test_malformed_policy_names_file_and_line(tmp_path: Path):
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    path = tmp_path / "policies" / "workload-pools.yaml"
    path.write_text(path.read_text().replace("  research:\n    pools: [a100-timeslice]", "  research: [a100]"))
    # a finding at its file and line (reported by run_rules), never an exception out of load_policy
    [problem] = load_policy(tmp_path, "production").problems
    assert problem.rule == "policy/invalid-parameter" and "types.research" in problem.message
    assert problem.file == "policies/workload-pools.yaml" and problem.line > 1


def test_without_policies_the_rules_run_on_defaults(tmp_path: Path):
    ctx = make_context([])
    ctx.repo = tmp_path
    findings = run_rules(ctx)
    notes = [f for f in findings if f.rule == "policy/defaults-used"]
    assert len(notes) == 1 and notes[0].severity.value == "info"


def test_rule_runs_restore_the_garbage_collector_even_in_threads():
    import gc
    from concurrent.futures import ThreadPoolExecutor

    from mlplatform.rules import run_rules_with

    policy = load_policy(REPO, "production")
    assert gc.isenabled()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: run_rules_with(make_context([]), policy), range(8)))
    assert gc.isenabled()
