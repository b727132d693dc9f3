"""Rule gpu-request-not-limit: good and bad fixtures (tests/rules/fixtures/gpu-request-not-limit/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/gpu-request-not-limit")
