"""Node capacity per pool: EKS allocatable CPU, memory and pods, and the GPU units the pool advertises.

STUB owned by issue 7 (capacity helper): replace the bodies, keep the signatures.
Resource names are Kubernetes names: "cpu" (millicores), "memory" (bytes), "pods", "nvidia.com/gpu",
"nvidia.com/mig-1g.10gb", ...
"""

from __future__ import annotations

from .catalog import Catalog
from .model import Pool


def node_allocatable(pool: Pool, catalog: Catalog) -> dict[str, int]:
    """Allocatable resources of one node of the pool's planning instance type (before DaemonSets)."""
    raise NotImplementedError


def gpu_units(pool: Pool, catalog: Catalog) -> dict[str, int]:
    """GPU resources one node advertises: {"nvidia.com/gpu": physical x replicas} or one entry per MIG profile."""
    raise NotImplementedError
