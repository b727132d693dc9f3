"""Rule gpu-daemonset-coverage: good and bad fixtures (tests/rules/fixtures/gpu-daemonset-coverage/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/gpu-daemonset-coverage")
