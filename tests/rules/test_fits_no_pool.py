"""Rule fits-no-pool: good and bad fixtures (tests/rules/fixtures/fits-no-pool/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/fits-no-pool")


def test_message_gives_each_pool_reason(good_and_bad):
    bad = {f.object.name: f.message for f in good_and_bad("policy/fits-no-pool")}
    assert "pool a100-timeslice: does not tolerate taint gpu=true:NoSchedule" in bad["bad-gpu-untolerated"]
    assert "cpu: no node of the pool offers nvidia.com/gpu" in bad["bad-gpu-untolerated"]
    assert "pool cpu: cpu: requests 32000m, a node has 15890m allocatable" in bad["bad-too-big"]
    assert "nodeSelector node.kubernetes.io/instance-type=c7g.large" in bad["bad-no-label"]


def test_each_finding_names_the_line_of_the_pod_spec() -> None:
    # the pod spec holds what decides placement (requests, nodeSelector, tolerations) and takes the fix;
    # the object's first line (apiVersion) told a newcomer nothing
    from rulekit import fixture_dir, fixture_findings

    lines = (fixture_dir("policy/fits-no-pool") / "bad.yaml").read_text().splitlines()
    manifests, bad = fixture_findings("policy/fits-no-pool", "bad")
    starts = {m.ref.name: m.source.line for m in manifests}
    assert bad
    for finding in bad:
        assert finding.object is not None and finding.line is not None
        assert lines[finding.line - 1].strip() == "spec:", (finding.object, finding.line)
        assert finding.line > starts[finding.object.name] + 3  # below the object's metadata, not its spec
