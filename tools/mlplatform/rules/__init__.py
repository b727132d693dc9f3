"""The policy rules: one module per rule, registered here.

STUB owned by issue 6 (policy helper): replace the body, keep the signature.
"""

from __future__ import annotations

from ..context import ClusterContext
from ..model import Finding


def run_rules(ctx: ClusterContext) -> list[Finding]:
    raise NotImplementedError
