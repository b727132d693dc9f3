"""Rule gpu-toleration-too-broad: good and bad fixtures (tests/rules/fixtures/gpu-toleration-too-broad/)."""

from __future__ import annotations

import jsonpatch
from rulekit import fixture_dir

from mlplatform.yamlio import load_documents, plain

RULE = "policy/gpu-toleration-too-broad"


def test_good_and_bad(good_and_bad):
    good_and_bad(RULE)


def test_messages_name_the_pools_each_toleration_opens(good_and_bad):
    bad = {f.object.name: f for f in good_and_bad(RULE)}
    # the spot pool stays closed: its spot taint is not tolerated
    assert "tolerations[1] opens a100-timeslice, h100-timeslice;" in bad["bad-gpu-exists"].message
    assert "allowed: a100-mig" in bad["bad-gpu-exists"].message
    assert "tolerate gpu=mig:NoSchedule with operator: Equal instead" in bad["bad-gpu-exists"].message
    assert "tolerations[0] opens a100-mig, a100-timeslice, a100-timeslice-spot" in bad["bad-wildcard"].message


def test_the_fix_tolerates_exactly_the_types_pools_and_keeps_the_rest(good_and_bad):
    bad = {f.object.name: f for f in good_and_bad(RULE)}
    docs = {d.data["metadata"]["name"]: plain(d.data) for d in load_documents(fixture_dir(RULE) / "bad.yaml")}
    fixed = jsonpatch.apply_patch(docs["bad-gpu-exists"], bad["bad-gpu-exists"].fix)
    assert fixed["spec"]["template"]["spec"]["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "gpu", "operator": "Equal", "value": "mig", "effect": "NoSchedule"},
    ]
    fixed = jsonpatch.apply_patch(docs["bad-wildcard"], bad["bad-wildcard"].fix)
    assert fixed["spec"]["template"]["spec"]["tolerations"] == [
        {"key": "gpu", "operator": "Equal", "value": "h100", "effect": "NoSchedule"},
    ]
