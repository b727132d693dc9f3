"""Rule sharing-config-drift: good and bad fixtures (tests/rules/fixtures/sharing-config-drift/)."""

from __future__ import annotations


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/sharing-config-drift")
