"""Rule cpu-tolerates-gpu-taint: good and bad fixtures (tests/rules/fixtures/cpu-tolerates-gpu-taint/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/cpu-tolerates-gpu-taint")


def test_fix_removes_only_the_gpu_tolerations(good_and_bad):
    bad = {f.object.name: f for f in good_and_bad("policy/cpu-tolerates-gpu-taint")}
    finding = bad["bad-gpu-exists"]
    assert "tolerations[1] {key: gpu, operator: Exists} matches the taints of a100-mig, a100-timeslice" in (
        finding.message
    )
    assert finding.fix == [
        {
            "op": "test",
            "path": "/spec/template/spec/tolerations/1",
            "value": {"key": "gpu", "operator": "Exists"},
        },
        {"op": "remove", "path": "/spec/template/spec/tolerations/1"},
    ]
    assert bad["bad-wildcard"].fix[-1] == {
        "op": "remove",
        "path": "/spec/jobTemplate/spec/template/spec/tolerations",
    }
    assert "a100-mig" in bad["bad-mig-equal"].message and "a100-timeslice" not in bad["bad-mig-equal"].message
