"""Rule priority-class-exists: good and bad fixtures (tests/rules/fixtures/priority-class-exists/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/priority-class-exists")
