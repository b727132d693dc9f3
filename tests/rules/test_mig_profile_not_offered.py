"""Rule mig-profile-not-offered: good and bad fixtures (tests/rules/fixtures/mig-profile-not-offered/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/mig-profile-not-offered")
