"""Rule gpu-memory-uncapped: good and bad fixtures (tests/rules/fixtures/gpu-memory-uncapped/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("gpu-memory-uncapped")
