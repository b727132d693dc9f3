"""Settings from `.mlplatform.yaml` at the repository root, overridable by CLI flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError, ToolError
from .yamlio import load_documents

CONFIG_FILE = ".mlplatform.yaml"
DEFAULT_KUBERNETES_VERSION = "1.34"
MAX_JOBS = 64  # a repository must not make one run start thousands of kustomize processes

# The repository is untrusted input (a pull request edits .mlplatform.yaml as easily as a manifest), so it
# must never choose a program to run: the binaries come from the set-up (MLPLATFORM_KUSTOMIZE /
# MLPLATFORM_PROMTOOL set by make or CI) or PATH. These settings are refused, not ignored, so whoever relied
# on one learns why it stopped working. See docs/security.md.
BINARY_SETTINGS = frozenset({"kustomize", "kubectl", "promtool", "helm", "checkov", "terraform", "git",
                             "kubeconform", "python"})
_BINARY_SUFFIXES = ("_binary", "_bin", "_path_to_binary", "_command", "_cmd", "_exe", "_executable",
                    "_program")
ENV_FOR_BINARY = {"kustomize": "MLPLATFORM_KUSTOMIZE", "kubectl": "MLPLATFORM_KUSTOMIZE",
                  "promtool": "MLPLATFORM_PROMTOOL"}


def names_a_binary(key: str) -> bool:
    attr = key.replace("-", "_").lower()
    return attr in BINARY_SETTINGS or attr.endswith(_BINARY_SUFFIXES)


@dataclass
class Config:
    repo: Path
    # Directories in <group>/<kind>_<version>.json layout, or URL templates like kubeconform's
    # ({{.Group}}, {{.ResourceKind}}, {{.ResourceAPIVersion}}); relative paths are relative to the repo.
    schema_locations: list[str] = field(default_factory=list)
    kubernetes_version: str | None = None  # None: each cluster's own (pool file), then the default
    strict: bool = False  # a kind with no schema is an error instead of a warning
    # path to kubectl or kustomize, set only by code that already chose one (never from the repository's
    # file: see BINARY_SETTINGS); None: discover
    kustomize: str | None = None
    jobs: int = 0  # parallel renders; 0: one per core
    # keep kustomize's output between runs in <repo>/.mlplatform-cache (buildcache.py); --no-cache: off
    build_cache: bool = True
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
            _apply_setting(config, data, str(key), value)
    for key, value in overrides.items():
        if value is None or value == () or value == []:
            continue
        if key == "schema_locations":
            config.schema_locations = list(value)
        else:
            setattr(config, key, value)
    return config


def _apply_setting(config: Config, data: Any, key: str, value: Any) -> None:
    """One key of .mlplatform.yaml; a wrong type is an error at its line, never a crash later on."""
    attr = key.replace("-", "_")
    line = data.line_of(key) if hasattr(data, "line_of") else 1

    def wrong(expected: str) -> InputError:
        return InputError(f"{key}: expected {expected}, got {type(value).__name__}", CONFIG_FILE, line)

    if names_a_binary(key):
        env = ENV_FOR_BINARY.get(attr.lower(), "an environment variable set by the set-up")
        raise InputError(
            f"setting '{key}' names a program to run; the repository cannot choose binaries "
            f"(use {env} or PATH, see docs/security.md)",
            CONFIG_FILE,
            line,
        )
    if attr == "schema_locations":
        if not isinstance(value, list) or not all(isinstance(v, str) and "\0" not in v for v in value):
            raise InputError(f"{key}: expected a list of paths or URL templates", CONFIG_FILE, line)
        config.schema_locations = list(value)
    elif attr == "kubernetes_version":
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int | float)):
            raise wrong("a version such as '1.34'")
        config.kubernetes_version = None if value is None else str(value)
    elif attr == "strict":
        if not isinstance(value, bool):
            raise wrong("true or false")
        config.strict = value
    elif attr == "jobs":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_JOBS:
            raise InputError(f"{key}: expected a whole number from 0 to {MAX_JOBS}", CONFIG_FILE, line)
        config.jobs = value
    else:
        config.extra[key] = value
