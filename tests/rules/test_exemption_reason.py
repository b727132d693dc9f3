"""Rule exemption-reason: good and bad fixtures (tests/rules/fixtures/exemption-reason/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/exemption-reason")


def test_an_exemption_with_a_reason_silences_its_rule_and_one_without_does_not():
    from rulekit import RULE_FIXTURES, load_fixture, run_rule

    good = load_fixture(RULE_FIXTURES / "exemption-reason" / "good.yaml")
    assert run_rule("policy/resources-missing", good) == []
    bad = load_fixture(RULE_FIXTURES / "exemption-reason" / "bad.yaml")
    flagged = {f.object.name for f in run_rule("policy/resources-missing", bad)}
    assert flagged == {"bad-empty-reason", "bad-unknown-rule"}
