"""Rule ha-zone-spread: good and bad fixtures (tests/rules/fixtures/ha-zone-spread/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/ha-zone-spread")
