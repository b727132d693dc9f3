"""Rule pool-not-allowed: good and bad fixtures (tests/rules/fixtures/pool-not-allowed/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/pool-not-allowed")


def test_messages(good_and_bad):
    bad = {f.object.name: f.message for f in good_and_bad("policy/pool-not-allowed")}
    assert "can land on pool(s) a100-mig; allowed: a100-timeslice" in bad["bad-batch-on-mig"]
    assert "unknown workload type 'gaming'" in bad["bad-unknown-type"]
    assert "can land on pool(s) a100-timeslice; allowed: cpu" in bad["bad-untyped-gpu"]
    assert "(replica Worker) of type training can land on pool(s) a100-timeslice-spot" in (bad["bad-training-on-spot"])
