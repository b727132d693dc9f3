"""Load the pool file (terraform/environments/<cluster>/node-pools.yaml) into Pool records with line numbers.

Structural problems (wrong types, missing keys) raise InputError with file and line; semantic checks
(instance catalog, MIG geometry, label keys, sizes) live in pool_rules.py and return findings.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from .contain import resolve_inside
from .errors import InputError
from .model import GpuSharing, Pool, PoolFile, Taint
from .suggest import closest
from .yamlio import LineDict, LineList, load_text, read_text

POOL_FILE_NAME = "node-pools.yaml"


def pool_file_path(repo: Path, cluster: str) -> Path:
    return repo / "terraform" / "environments" / cluster / POOL_FILE_NAME


# Every key a pool file or a pool may have: a missing required key is most often one of these misspelt.
FILE_KEYS = ("cluster", "region", "kubernetes_version", "pools")
POOL_KEYS = ("instance_types", "capacity_type", "min_size", "max_size", "desired_size", "labels", "taints", "gpu",
             "disk_size_gib", "zones", "efa", "capacity_reservation")


def _require(mapping: LineDict, key: str, kind: type | tuple[type, ...], where: str, file: str) -> Any:
    if key not in mapping:
        known = FILE_KEYS if where == "pool file" else POOL_KEYS
        # A key present but unknown that is close to the missing one is the typo: name it, at its own line.
        typo = next((k for k in mapping if isinstance(k, str) and k not in known and closest(k, [key])), None)
        if typo is not None:
            raise InputError(f"{where}: unknown key '{typo}'; did you mean '{key}'? (required key '{key}' is "
                             "missing)", file, mapping.line_of(typo))
        raise InputError(f"{where}: missing required key '{key}'", file, mapping.line)
    value = mapping[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InputError(f"{where}.{key}: expected {names}, got {type(value).__name__}", file, mapping.line_of(key))
    return value


def field_lines(raw: LineDict) -> dict[Any, int]:
    """Lines of a pool's keys, nested ones by dotted name ("gpu.replicas", "labels.<key>", "taints[1].effect").

    Findings point at the most precise of these a person edits, not at the section holding it.
    """
    lines: dict[Any, int] = dict(raw.key_lines)  # top-level keys as written (an odd key may not be a str)

    def visit(value: object, name: str) -> None:
        if isinstance(value, LineDict):
            for key, child in value.items():
                child_name = f"{name}.{key}" if name else str(key)
                if name:
                    lines[child_name] = value.key_lines.get(key, value.line)
                visit(child, child_name)
        elif isinstance(value, LineList):
            for index, child in enumerate(value):
                child_name = f"{name}[{index}]"
                lines[child_name] = value.item_lines[index] if index < len(value.item_lines) else value.line
                visit(child, child_name)

    visit(raw, "")
    return lines


def _parse_gpu(raw: Any, where: str, file: str, line: int) -> GpuSharing | None:
    if raw is None:
        return None
    if not isinstance(raw, LineDict):  # pool files are read with lines (load_one)
        raise InputError(f"{where}.gpu: expected a mapping or null", file, line)
    sharing = raw.get("sharing", "none")
    replicas = raw.get("replicas")
    layout = raw.get("mig_layout")
    if replicas is not None and (not isinstance(replicas, int) or isinstance(replicas, bool)):
        raise InputError(f"{where}.gpu.replicas: expected an integer", file, raw.line_of("replicas"))
    if layout is not None:
        if not isinstance(layout, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in layout.items()
        ):
            raise InputError(f"{where}.gpu.mig_layout: expected a map of profile to count",
                             file, raw.line_of("mig_layout"))
        layout = dict(layout)
    return GpuSharing(sharing=str(sharing), replicas=replicas, mig_layout=layout)


def _parse_taints(raw: Any, where: str, file: str, line: int) -> list[Taint]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError(f"{where}.taints: expected a list", file, line)
    taints = []
    for i, item in enumerate(raw):
        item_line = raw.item_lines[i] if hasattr(raw, "item_lines") else line
        if not isinstance(item, dict) or "key" not in item or "effect" not in item:
            raise InputError(f"{where}.taints[{i}]: expected {{key, value, effect}}", file, item_line)
        value = item.get("value")
        taints.append(Taint(str(item["key"]), None if value is None else str(value), str(item["effect"])))
    return taints


def _kubernetes_version(data: LineDict, file: str) -> str | None:
    """The cluster's Kubernetes minor version; one schema validation has no schemas for is an error here, at its
    line (schema.py would otherwise stop the whole run: the routing rule of docs/architecture.md)."""
    version = data.get("kubernetes_version")
    if version is None:
        return None
    from .errors import ToolError
    from .schema import bundle_root, normalize_kubernetes_version  # lazy: schema.py imports the validator

    if isinstance(version, bool) or not isinstance(version, str | int | float):
        raise InputError("kubernetes_version: expected a version such as '1.34'", file,
                         data.line_of("kubernetes_version"))
    bundle_root()  # a ToolError (exit 2) when the schema package itself is missing: not the file's fault
    try:
        normalize_kubernetes_version(str(version))
    except ToolError as exc:
        hint = (f" (unquoted, YAML reads it as the number {version!r}: write it quoted, e.g. \"1.30\")"
                if isinstance(version, float) else "")
        raise InputError(f"kubernetes_version: {exc.message}{hint}", file,
                         data.line_of("kubernetes_version")) from None
    return str(version)


def parse_pool_file(data: Any, file: str) -> PoolFile:
    if not isinstance(data, LineDict):
        raise InputError("the pool file must be a mapping with cluster, region and pools", file, 1)
    cluster = _require(data, "cluster", str, "pool file", file)
    region = _require(data, "region", str, "pool file", file)
    raw_pools = _require(data, "pools", dict, "pool file", file)
    pools: dict[str, Pool] = {}
    for name, raw in raw_pools.items():
        where = f"pools.{name}"
        line = raw_pools.line_of(name)
        if not isinstance(raw, LineDict):
            raise InputError(f"{where}: expected a mapping", file, line)
        instance_types = _require(raw, "instance_types", list, where, file)
        if not instance_types or not all(isinstance(t, str) for t in instance_types):
            raise InputError(f"{where}.instance_types: expected a non-empty list of names",
                             file, raw.line_of("instance_types"))
        labels = raw.get("labels") or {}
        if not isinstance(labels, dict):
            raise InputError(f"{where}.labels: expected a mapping", file, raw.line_of("labels"))
        known = {"instance_types", "capacity_type", "min_size", "max_size", "desired_size", "labels", "taints", "gpu"}
        pools[str(name)] = Pool(
            name=str(name),
            instance_types=list(instance_types),
            capacity_type=str(raw.get("capacity_type", "on-demand")),
            min_size=_require(raw, "min_size", int, where, file),
            max_size=_require(raw, "max_size", int, where, file),
            desired_size=_require(raw, "desired_size", int, where, file),
            labels={str(k): "" if v is None else str(v) for k, v in labels.items()},
            taints=_parse_taints(raw.get("taints"), where, file, raw.line_of("taints")),
            gpu=_parse_gpu(raw.get("gpu"), where, file, raw.line_of("gpu")),
            file=file,
            line=line,
            field_lines=field_lines(raw),
            extra={k: v for k, v in raw.items() if k not in known},
        )
    version = _kubernetes_version(data, file)
    return PoolFile(cluster=cluster, region=region, pools=pools, file=file, line_of_cluster=data.line_of("cluster"),
                    kubernetes_version=None if version is None else str(version))


# One run reads a cluster's pool file for several steps (check's pool checks, gen's drift check, the Helm
# step's Kubernetes version; plan and fix too): each text is parsed once per process. The key holds the text
# itself, so a file edited since (fix, a test rewriting it) is parsed again, never served stale; each caller
# gets its own copy, so no caller can change what another one reads. The parse is kept pickled: unpickling a
# copy takes 0.04 ms where copy.deepcopy took 0.56 ms (a pool file of the synthetic fleet).
_PARSED: dict[tuple[str, str], tuple[str, bytes]] = {}
_MAX_PARSED = 64  # pool files per process before the memo starts over (a long-lived process stays bounded)


def load_pool_file(path: Path, repo: Path | None = None) -> PoolFile:
    """Load a pool file; `file` in records and errors is relative to `repo` when given."""
    display = path.relative_to(repo).as_posix() if repo and path.is_relative_to(repo) else str(path)
    if not path.is_file():
        raise InputError("pool file not found", display)
    if repo is not None and resolve_inside(repo, path) is None:  # never read through a link out of the repository
        raise InputError("the pool file is a symlink out of the repository; not read", display, 1)
    key = (str(path), display)
    try:
        text = read_text(path)
        known = _PARSED.get(key)
        if known is not None and known[0] == text:
            return _copy(known[1])
        # The text just read is the one parsed (yamlio.load_one reads the file itself): what is kept under
        # this text is this text's parse.
        docs = [d for d in load_text(text, path) if d.data is not None]
        if len(docs) != 1:
            raise InputError(f"expected one YAML document, found {len(docs)}", str(path), 1)
    except InputError as exc:
        raise InputError(exc.message, display, exc.line) from exc
    pool_file = parse_pool_file(docs[0].data, display)
    if len(_PARSED) >= _MAX_PARSED:
        _PARSED.clear()
    kept = pickle.dumps(pool_file, protocol=pickle.HIGHEST_PROTOCOL)
    _PARSED[key] = (text, kept)
    return _copy(kept)


def _copy(kept: bytes) -> PoolFile:
    # bytes this process pickled itself from its own parse, never read from a file
    pool_file: PoolFile = pickle.loads(kept)  # noqa: S301
    return pool_file
