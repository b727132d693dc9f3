"""Rule replicas-with-autoscaler: good and bad fixtures (tests/rules/fixtures/replicas-with-autoscaler/)."""

from __future__ import annotations

RULE = "policy/replicas-with-autoscaler"


def test_good_and_bad(good_and_bad):
    good_and_bad(RULE)


def test_the_message_names_the_autoscaler_and_the_fix_removes_the_field(good_and_bad):
    bad = {f.object.name: f for f in good_and_bad(RULE)}
    keda = bad["bad-keda-and-replicas"]
    assert "spec.replicas 1 beside KEDA ScaledObject inference/bad-keda-and-replicas (replicas 2-8)" in keda.message
    assert keda.fix == [
        {"op": "test", "path": "/spec/replicas", "value": 1}, {"op": "remove", "path": "/spec/replicas"}]
    assert "HPA mlops/s" in bad["bad-hpa-and-replicas"].message
