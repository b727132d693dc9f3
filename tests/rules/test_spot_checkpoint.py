"""Rule spot-checkpoint: good and bad fixtures (tests/rules/fixtures/spot-checkpoint/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/spot-checkpoint")
