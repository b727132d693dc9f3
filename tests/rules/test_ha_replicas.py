"""Rule ha-replicas: good and bad fixtures (tests/rules/fixtures/ha-replicas/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/ha-replicas")
