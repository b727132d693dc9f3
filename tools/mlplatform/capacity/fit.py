"""The capacity step of `check`: every workload fits its pools at maximum demand within the pools' max sizes.

STUB owned by issue 7 (capacity helper): replace the body, keep the signature.
"""

from __future__ import annotations

from ..context import ClusterContext
from ..model import Finding


def check_fit(ctx: ClusterContext) -> list[Finding]:
    raise NotImplementedError
