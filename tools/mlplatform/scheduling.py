"""Kubernetes placement semantics against node pools: taints/tolerations, nodeSelector, node affinity, resources.

STUB owned by issue 6 (policy helper): replace the bodies, keep the signatures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .catalog import Catalog
from .model import Pool


@dataclass
class Placement:
    fits: list[str]  # names of pools a pod of this spec can be scheduled on (one empty node of the pool)
    reasons: dict[str, str] = field(default_factory=dict)  # pool name -> why it cannot land there


def place(pod_spec: dict[str, Any], pools: Iterable[Pool], catalog: Catalog,
          daemonset_overhead: dict[str, dict[str, int]] | None = None) -> Placement:
    """Which pools can run this pod spec; `daemonset_overhead` is pool -> resource -> amount already taken."""
    raise NotImplementedError
