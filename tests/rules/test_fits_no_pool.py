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
