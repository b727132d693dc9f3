"""Rule gpu-memory-uncapped: good and bad fixtures (tests/rules/fixtures/gpu-memory-uncapped/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("gpu-memory-uncapped")


def test_fix_splices_the_cap_into_shell_text_with_braces(good_and_bad):
    bad = good_and_bad("gpu-memory-uncapped")
    finding = next(f for f in bad if f.object and f.object.name == "bad-shell-braces")
    replace = next(op for op in finding.fix if op["op"] == "replace")
    # a100-timeslice shares each GPU 4 ways: the cap becomes 0.25, the shell variable stays as written
    assert replace["value"] == "vllm serve /models/m --gpu-memory-utilization=0.25 --shard=${JOB_COMPLETION_INDEX}"
