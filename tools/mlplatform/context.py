"""What every check of one cluster sees: the rendered objects, the pools, the catalog, the settings, and the
cluster model built once from them (cluster_model.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .catalog import Catalog, load_catalog
from .cluster_model import ClusterModel
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
    # Built on first use unless the orchestrator set it (check.py builds it once it knows which autoscalers
    # fail their schema); the rules, the capacity fit and `rules --placement` all read this one.
    _model: ClusterModel | None = field(default=None, repr=False)

    @property
    def model(self) -> ClusterModel:
        if self._model is None:
            self._model = ClusterModel(self.manifests, self.pool_file, self.catalog)
        return self._model

    @model.setter
    def model(self, value: ClusterModel) -> None:
        self._model = value
