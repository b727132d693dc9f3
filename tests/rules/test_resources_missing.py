"""Rule resources-missing: good and bad fixtures (tests/rules/fixtures/resources-missing/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/resources-missing")
