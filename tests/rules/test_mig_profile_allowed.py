"""Rule mig-profile-allowed: good and bad fixtures (tests/rules/fixtures/mig-profile-allowed/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/mig-profile-allowed")
