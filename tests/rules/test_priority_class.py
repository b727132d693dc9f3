"""Rule priority-class: good and bad fixtures (tests/rules/fixtures/priority-class/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/priority-class")
