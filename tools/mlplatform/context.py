"""What every check of one cluster sees: the rendered objects, the pools, the catalog and the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .catalog import Catalog, load_catalog
from .config import Config
from .model import Manifest, PoolFile


@dataclass
class ClusterContext:
    repo: Path
    config: Config
    cluster: str
    manifests: list[Manifest]
    pool_file: PoolFile | None
    catalog: Catalog = field(default_factory=load_catalog)
