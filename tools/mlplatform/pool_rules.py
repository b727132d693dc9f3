"""Semantic checks of a pool file against the catalog (instance types, MIG geometry, labels, taints, sizes).

STUB owned by issue 3 (terraform helper): replace the body, keep the signature.
"""

from __future__ import annotations

from .catalog import Catalog
from .model import Finding, PoolFile


def check_pool_file(pool_file: PoolFile, catalog: Catalog) -> list[Finding]:
    raise NotImplementedError
