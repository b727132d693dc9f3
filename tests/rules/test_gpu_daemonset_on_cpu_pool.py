"""Rule gpu-daemonset-on-cpu-pool: good and bad fixtures (tests/rules/fixtures/gpu-daemonset-on-cpu-pool/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/gpu-daemonset-on-cpu-pool")
