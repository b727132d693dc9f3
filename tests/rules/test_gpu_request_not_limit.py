"""Rule gpu-request-not-limit: good and bad fixtures (tests/rules/fixtures/gpu-request-not-limit/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/gpu-request-not-limit")


def test_each_finding_names_the_line_of_the_gpu_request() -> None:
    # a newcomer's finding pointed at the object's first line (apiVersion), not at the request to change
    from rulekit import fixture_dir, fixture_findings

    lines = (fixture_dir("policy/gpu-request-not-limit") / "bad.yaml").read_text().splitlines()
    _, bad = fixture_findings("policy/gpu-request-not-limit", "bad")
    assert bad
    for finding in bad:
        assert finding.line is not None
        text = lines[finding.line - 1]
        assert "requests" in text and "nvidia.com/" in text, (finding.object, finding.line, text)
