"""Fixtures for the rule tests (helpers in rulekit.py; fixture files in fixtures/<rule-id>/)."""

from __future__ import annotations

import pytest
from rulekit import check_good_and_bad


@pytest.fixture
def good_and_bad():
    return check_good_and_bad
