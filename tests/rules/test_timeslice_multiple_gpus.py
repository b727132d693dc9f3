"""Rule timeslice-multiple-gpus: good and bad fixtures (tests/rules/fixtures/timeslice-multiple-gpus/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/timeslice-multiple-gpus")
