"""Rule ha-pdb: good and bad fixtures (tests/rules/fixtures/ha-pdb/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/ha-pdb")
