"""Settings from `.mlplatform.yaml` at the repository root, overridable by CLI flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError, ToolError
from .yamlio import load_documents

CONFIG_FILE = ".mlplatform.yaml"
DEFAULT_KUBERNETES_VERSION = "1.34"


@dataclass
class Config:
    repo: Path
    # Directories in <group>/<kind>_<version>.json layout, or URL templates like kubeconform's
    # ({{.Group}}, {{.ResourceKind}}, {{.ResourceAPIVersion}}); relative paths are relative to the repo.
    schema_locations: list[str] = field(default_factory=list)
    kubernetes_version: str | None = None  # None: each cluster's own (pool file), then the default
    strict: bool = False  # a kind with no schema is an error instead of a warning
    kustomize: str | None = None  # path to kubectl or kustomize; None: discover
    jobs: int = 0  # parallel renders; 0: one per core
    extra: dict[str, Any] = field(default_factory=dict)

    def clusters(self) -> list[str]:
        root = self.repo / "clusters"
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def resolved_schema_locations(self) -> list[str]:
        resolved = []
        for loc in self.schema_locations:
            if "://" in loc or "{{" in loc:
                resolved.append(loc)
            else:
                resolved.append(str((self.repo / loc).resolve()))
        return resolved


def find_repo(start: Path) -> Path:
    """The repository root: `start` itself when it holds clusters/ or the config file."""
    start = start.resolve()
    if not start.is_dir():
        raise ToolError(f"repository not found: {start}")
    if not ((start / "clusters").is_dir() or (start / CONFIG_FILE).is_file()):
        raise ToolError(f"{start} is not a platform repository (no clusters/ and no {CONFIG_FILE})")
    return start


def load_config(repo: Path, **overrides: Any) -> Config:
    config = Config(repo=repo)
    path = repo / CONFIG_FILE
    if path.is_file():
        docs = [d for d in load_documents(path) if d.data is not None]
        data = docs[0].data if docs else {}
        if not isinstance(data, dict):
            raise InputError("expected a mapping", CONFIG_FILE, 1)
        for key, value in data.items():
            attr = key.replace("-", "_")
            if attr in ("schema_locations",):
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise InputError(f"{key}: expected a list of paths or URL templates", CONFIG_FILE,
                                     data.line_of(key))
                config.schema_locations = list(value)
            elif attr in ("kubernetes_version", "kustomize"):
                config.__dict__[attr] = None if value is None else str(value)
            elif attr == "strict":
                config.strict = bool(value)
            elif attr == "jobs":
                config.jobs = int(value)
            else:
                config.extra[key] = value
    for key, value in overrides.items():
        if value is None or value == () or value == []:
            continue
        if key == "schema_locations":
            config.schema_locations = list(value)
        else:
            setattr(config, key, value)
    return config
