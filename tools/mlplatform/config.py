"""Settings from `.mlplatform.yaml` at the repository root, typed, overridable by environment and CLI flags.

Precedence, strongest first: a CLI flag, an environment variable set by the set-up or CI (MLPLATFORM_*),
the repository's `.mlplatform.yaml`, the built-in default. The repository is untrusted input (a pull request
edits this file as easily as a manifest), so a problem in it is a finding at its file and line (category
`config/`), never a crash and never exit 2: the run goes on with the default for that setting, and every
output format is still produced. A bad environment variable is the set-up's fault: exit 2 (ToolError).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import contain
from .errors import InputError, ToolError
from .model import Finding, Severity
from .suggest import did_you_mean
from .yamlio import load_documents

CONFIG_FILE = ".mlplatform.yaml"
DEFAULT_KUBERNETES_VERSION = "1.34"
MAX_JOBS = 64  # a repository must not make one run start thousands of kustomize processes
# kustomize's limit per build; the repository may only shorten it (a shared runner must not wait longer).
# render.DEFAULT_TIMEOUT_SECONDS is this value.
MAX_KUSTOMIZE_TIMEOUT_SECONDS = 120.0

# Finding ids of this module (category config/).
RULE_UNKNOWN_KEY = "config/unknown-key"
RULE_INVALID_VALUE = "config/invalid-value"
RULE_NAMES_A_BINARY = "config/names-a-binary"
RULE_UNREADABLE = "config/settings-unreadable"
RULE_IDS = (RULE_UNKNOWN_KEY, RULE_INVALID_VALUE, RULE_NAMES_A_BINARY, RULE_UNREADABLE)

# The repository must never choose a program to run: the binaries come from the set-up (MLPLATFORM_KUSTOMIZE /
# MLPLATFORM_PROMTOOL set by make or CI) or PATH. These settings are refused with a finding, not ignored in
# silence, so whoever relied on one learns why it stopped working. See docs/security.md.
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
    # `rules:` (suppress.py): disabled rules, severity overrides, exemptions of findings on files
    rule_settings: Any = None
    kustomize_timeout: float = MAX_KUSTOMIZE_TIMEOUT_SECONDS  # seconds per kustomize build
    # CRD groups a cluster has before Flux applies anything (EKS add-ons): their kinds need no CRD in the render
    preinstalled_crd_groups: list[str] = field(default_factory=list)
    # Problems in .mlplatform.yaml (category config/): check and validate report them with the others.
    findings: list[Finding] = field(default_factory=list)
    # ---- Flux fidelity (issue 18): how a Flux repository is read, whatever its layout
    # Globs (repository-relative, fnmatch) the repository-wide YAML check skips; chart folders (a folder with
    # Chart.yaml) are skipped without being listed.
    exclude: list[str] = field(default_factory=list)
    # Folders searched for the Flux Kustomizations `flux bootstrap` writes (default: clusters/ when it
    # exists, else the whole repository).
    cluster_locations: list[str] = field(default_factory=list)
    # CRDs a HelmRelease installs that the render cannot see: {"<namespace>/<release>": ["<group>/<Kind>"]}.
    helm_crds: dict[str, list[str]] = field(default_factory=dict)
    # Sources the tool cannot fetch, mapped to local folders: {"<Kind>/<namespace>/<name>": "<dir>"}.
    sources: dict[str, str] = field(default_factory=dict)
    # keep kustomize's output between runs in <repo>/.mlplatform-cache (buildcache.py); --no-cache: off
    build_cache: bool = True
    _cluster_roots: dict[str, Any] | None = field(default=None, repr=False)

    def cluster_roots(self) -> dict[str, Any]:
        """{cluster name: discovery.ClusterRoot}, found from what `flux bootstrap` writes (read once)."""
        if self._cluster_roots is None:
            from .discovery import discover_clusters  # imported here: discovery reads YAML through yamlio

            self._cluster_roots = discover_clusters(self.repo, self.cluster_locations)
        return self._cluster_roots

    def clusters(self) -> list[str]:
        return sorted(self.cluster_roots())

    def set_cluster_roots(self, roots: dict[str, Any]) -> None:
        """Use these clusters instead of discovering them (`render --path`)."""
        self._cluster_roots = dict(roots)

    def resolved_schema_locations(self) -> list[str]:
        resolved = []
        for loc in self.schema_locations:
            if "://" in loc or "{{" in loc:
                resolved.append(loc)
            else:
                resolved.append(str((self.repo / loc).resolve()))
        return resolved


class BadValue(Exception):  # noqa: N818 - not an error of the tool: a value a parser rejects
    """A setting's value does not have the type or range the setting needs; the message says what it needs."""


# ---------------------------------------------------------------- value parsers (one per kind of setting)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadValue("true or false")
    return value


def _whole_number(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BadValue(f"a whole number from {low} to {high}")
        return value
    return parse


def _seconds(low_exclusive: float, high: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or not low_exclusive < value <= high:
            raise BadValue(f"a number of seconds above {low_exclusive:g} and at most {high:g} (the built-in limit; "
                           "the repository may shorten it, never lengthen it)")
        return float(value)
    return parse


def _version(value: Any) -> str | None:
    # unquoted 1.34 is a YAML float; it is accepted as written (quote 1.30, which YAML reads as 1.3)
    if value is None:
        return None
    text = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    match = re.fullmatch(r"v?(\d{1,3})\.(\d{1,3})(?:\.\d{1,4})?", text.strip()) if isinstance(text, str) else None
    if match is None:
        raise BadValue("a version such as '1.34'")
    from .schema import bundled_versions  # lazy: schema.py imports the validator

    available = bundled_versions()
    if f"{int(match.group(1))}.{int(match.group(2))}" not in available:
        span = f"{available[0]} to {available[-1]}" if available else "none"
        raise BadValue(f"a Kubernetes version with bundled schemas ({span})")
    return str(text)


def _string_list(what: str) -> Callable[[Any], list[str]]:
    def parse(value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v and "\0" not in v for v in value):
            raise BadValue(f"a list of {what}")
        return list(value)
    return parse


@dataclass(frozen=True)
class Setting:
    """One key of .mlplatform.yaml: the Config attribute it sets and how its value is checked."""

    attr: str
    parse: Callable[[Any], Any]
    env: str | None = None  # environment variable (set by the set-up or CI) that wins over the file


def _globs(value: Any) -> list[str]:
    return _string_list("repository-relative paths or globs")(value)


def _helm_crds(value: Any) -> dict[str, list[str]]:
    shape = "{<namespace>/<release>: [<group>/<Kind>, ...]}"
    if not isinstance(value, dict):
        raise BadValue(shape)
    out: dict[str, list[str]] = {}
    for key, kinds in value.items():
        if not (isinstance(key, str) and key.count("/") == 1 and isinstance(kinds, list)
                and all(isinstance(k, str) and "/" in k and "\0" not in k for k in kinds)):
            raise BadValue(shape)
        out[key] = list(kinds)
    return out


def _source_folders(value: Any) -> dict[str, str]:
    shape = "{<Kind>/<namespace>/<name>: <folder>}"
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k.count("/") == 2 and isinstance(v, str) and v and "\0" not in v
        for k, v in value.items()
    ):
        raise BadValue(shape)
    return {str(k): str(v) for k, v in value.items()}


# Every key the file may hold. A key not here is a finding (config/unknown-key), never silently accepted.
SETTINGS: dict[str, Setting] = {
    "schema_locations": Setting("schema_locations", _string_list("paths or URL templates")),
    "kubernetes_version": Setting("kubernetes_version", _version),
    "strict": Setting("strict", _bool),
    "jobs": Setting("jobs", _whole_number(0, MAX_JOBS), env="MLPLATFORM_JOBS"),
    "kustomize_timeout": Setting("kustomize_timeout", _seconds(0, MAX_KUSTOMIZE_TIMEOUT_SECONDS),
                                 env="MLPLATFORM_KUSTOMIZE_TIMEOUT"),
    "preinstalled_crd_groups": Setting("preinstalled_crd_groups", _string_list("API groups")),
    # Flux fidelity (issue 18): how a Flux repository laid out differently is read
    "exclude": Setting("exclude", _globs),
    "cluster_locations": Setting("cluster_locations", _globs),
    "helm_crds": Setting("helm_crds", _helm_crds),
    "sources": Setting("sources", _source_folders),
    # disabled rules, severity overrides, exemptions: parsed by suppress.parse_settings (_apply_setting)
    "rules": Setting("rule_settings", lambda value: value),
}


def find_repo(start: Path) -> Path:
    """The repository root: `start` itself (any folder: a repository laid out without clusters/ is read
    through its configuration or the Flux bootstrap objects found in it)."""
    start = start.resolve()
    if not start.is_dir():
        raise ToolError(f"repository not found: {start}")
    return start


def find_config_upwards(start: Path) -> Path | None:
    """The folder holding the nearest .mlplatform.yaml at or above `start` (as ruff and git look), or None."""
    current = start.resolve()
    for folder in (current, *current.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    return None


def load_config(repo: Path, environ: dict[str, str] | None = None, *, validates_schemas: bool = True,
                **overrides: Any) -> Config:
    """The settings: file, then environment, then `overrides` (CLI flags; None or empty means not given).

    `validates_schemas`: the command validates against the schema locations (check, validate)."""
    config = Config(repo=repo)
    missing_locations = _apply_file(config, repo / CONFIG_FILE)
    if validates_schemas and not overrides.get("schema_locations"):
        # a directory the file names that does not exist matters only when the file's list is used
        config.findings += missing_locations
    _apply_environment(config, os.environ if environ is None else environ)
    for key, value in overrides.items():
        if value is None or value == () or value == []:
            continue
        if key == "schema_locations":
            config.schema_locations = list(value)
        else:
            setattr(config, key, value)
    return config


def _finding(rule: str, message: str, line: int) -> Finding:
    return Finding(rule=rule, severity=Severity.ERROR, message=message, file=CONFIG_FILE, line=line)


def _apply_file(config: Config, path: Path) -> list[Finding]:
    """Apply the file's settings; returns the findings about schema locations that are not directories."""
    missing: list[Finding] = []
    if not path.is_file():
        return missing
    if contain.resolve_inside(config.repo, path) is None:  # a symlink out of the repository is never read
        config.findings.append(_finding(RULE_UNREADABLE, "is a symlink out of the repository; not read, every "
                                        "setting keeps its default", 1))
        return missing
    try:
        docs = [d for d in load_documents(path) if d.data is not None]
    except InputError as exc:
        config.findings.append(_finding(RULE_UNREADABLE, f"cannot read the settings ({exc.message}); "
                                        "every setting keeps its default", exc.line or 1))
        return missing
    if len(docs) > 1:
        config.findings.append(_finding(RULE_UNREADABLE, "expected one YAML document; only the first is read",
                                        docs[1].line or 1))
    data = docs[0].data if docs else {}
    if not isinstance(data, dict):
        config.findings.append(_finding(RULE_UNREADABLE, "expected a mapping of setting to value; every setting "
                                        "keeps its default", docs[0].line or 1 if docs else 1))
        return missing
    for key, value in data.items():
        line = data.line_of(key) if hasattr(data, "line_of") else 1
        finding = _apply_setting(config, key, value, line)
        if finding is not None:
            config.findings.append(finding)
        elif key == "schema_locations":
            config.schema_locations = _locations_inside(config, value, missing)
    return missing


def _unknown_template_variables(location: str) -> list[str]:
    from .schema import _TEMPLATE_VAR, _TEMPLATE_VARS  # lazy: schema.py imports the validator

    return [v for v in _TEMPLATE_VAR.findall(location) if v not in _TEMPLATE_VARS]


def _locations_inside(config: Config, locations: Any, missing: list[Finding]) -> list[str]:
    """The schema locations the file names that stay in the repository; each other one is a finding.

    The file is untrusted: a URL would make the tool reach the network and an absolute path or ../ would
    read outside the repository (docs/security.md). Those come from --schema-location, which CI sets."""
    kept = []
    lines = getattr(locations, "item_lines", [])
    for index, location in enumerate(locations):
        line = lines[index] if index < len(lines) else 1
        where = f"schema_locations[{index}]: {location!r}"
        if "://" in location or Path(location).is_absolute():
            config.findings.append(_finding(RULE_INVALID_VALUE, f"{where}: the repository may name only directories "
                                            "inside it; a URL or absolute path is given with --schema-location",
                                            line))
            continue
        if "{{" in location and (unknown := _unknown_template_variables(location)):
            config.findings.append(_finding(RULE_INVALID_VALUE, f"{where}: unknown template variable "
                                            f"{unknown[0]!r}", line))
            continue
        base = location.split("{{", 1)[0]  # a template's fixed part must stay inside too
        target = contain.safe_resolve(config.repo / base)
        if target is None:
            config.findings.append(_finding(RULE_INVALID_VALUE, f"{where}: cannot be resolved (a symlink loop?)",
                                            line))
            continue
        if not target.is_relative_to(config.repo.resolve()):
            config.findings.append(_finding(RULE_INVALID_VALUE, f"{where}: leaves the repository", line))
        elif "{{" not in location and not target.is_dir():
            missing.append(_finding(RULE_INVALID_VALUE, f"{where}: not a directory", line))
        else:
            kept.append(location)
    return kept


def _apply_setting(config: Config, key: Any, value: Any, line: int) -> Finding | None:
    """One key of .mlplatform.yaml; a problem is a finding at its line (the setting keeps its default)."""
    name = str(key)
    if not isinstance(key, str):
        return _finding(RULE_UNKNOWN_KEY, f"{name!r}: a setting's name is text "
                        f"(known: {', '.join(SETTINGS)})", line)
    if names_a_binary(key):
        env = ENV_FOR_BINARY.get(key.replace("-", "_").lower(), "an environment variable set by the set-up")
        return _finding(RULE_NAMES_A_BINARY, f"setting '{key}' names a program to run; the repository cannot "
                        f"choose binaries (use {env} or PATH, see docs/security.md); it is not used", line)
    if key == "rules":  # the rule catalog's block: suppress.py owns its format and says which line is wrong
        from .suppress import parse_settings

        try:
            config.rule_settings = parse_settings(value, CONFIG_FILE, line)
        except InputError as exc:
            return _finding(RULE_INVALID_VALUE, exc.message, exc.line or line)
        return None
    setting = SETTINGS.get(key.replace("-", "_"))
    if setting is None:
        return _finding(RULE_UNKNOWN_KEY, f"unknown setting '{key}'{did_you_mean(key, SETTINGS)} "
                        f"(known: {', '.join(SETTINGS)})", line)
    try:
        parsed = setting.parse(value)
    except BadValue as exc:
        return _finding(RULE_INVALID_VALUE, f"{key}: expected {exc}, got {_describe(value)}; the default is used",
                        line)
    folders = parsed if key == "cluster_locations" else list(parsed.values()) if key == "sources" else []
    outside = [f for f in folders if not _inside(config, f)]
    if outside:
        # the repository's own file may point only inside it (docs/security.md); a folder elsewhere is for the
        # person running the tool to give, with --source
        return _finding(RULE_INVALID_VALUE, f"{key}: {outside[0]!r} is not a folder inside the repository "
                        "(map other folders with render --source); the default is used", line)
    setattr(config, setting.attr, parsed)
    return None


def _inside(config: Config, folder: str) -> bool:
    return not Path(folder).is_absolute() and contain.resolve_inside(config.repo, config.repo / folder) is not None


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str | int | float | bool):
        shown = repr(value)
        return shown if len(shown) <= 40 else shown[:37] + "..."
    if isinstance(value, dict):
        return "a mapping"
    return "a list" if isinstance(value, list) else type(value).__name__


def _apply_environment(config: Config, environ: Any) -> None:
    for key, setting in SETTINGS.items():
        if setting.env is None or not environ.get(setting.env):
            continue
        raw = environ[setting.env]
        try:
            value: Any = float(raw) if "." in raw else int(raw)
        except ValueError:
            value = raw
        try:
            setattr(config, setting.attr, setting.parse(value))
        except BadValue as exc:
            raise ToolError(f"{setting.env}={raw!r}: expected {exc} (the environment sets {key})") from None
