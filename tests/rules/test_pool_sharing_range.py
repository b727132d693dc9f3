"""Rule pool-sharing-range: the frozen pool file is good; node-pools-bad.yaml shares a GPU 16 ways."""

from __future__ import annotations

from rulekit import RULE_FIXTURES, load_fixture, run_rule


def test_good_pool_file():
    good = load_fixture(RULE_FIXTURES / "pool-sharing-range" / "good.yaml")
    assert run_rule("policy/pool-sharing-range", good) == []


def test_bad_pool_file_points_at_the_pool():
    bad_file = RULE_FIXTURES / "pool-sharing-range" / "node-pools-bad.yaml"
    findings = run_rule("policy/pool-sharing-range", [], pool_file=bad_file)
    assert len(findings) == 1
    finding = findings[0]
    assert "pool a100-timeslice: time-slicing replicas 16 outside 2..8" in finding.message
    assert finding.file == "tests/rules/fixtures/pool-sharing-range/node-pools-bad.yaml"
    lines = bad_file.read_text().splitlines()
    assert lines[finding.line - 1].strip() == "gpu:"
