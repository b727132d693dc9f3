"""The rules' parameters, read from policies/*.yaml of the repository (data, not code).

A problem in a policy file is a finding at its file and line (Policy.problems, reported once by run_rules), and
the rules go on with the defaults of what could not be read: never an exception out of load_policy. The typed
parameters and their defaults are declared in _params.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..contain import resolve_inside
from ..errors import InputError
from ..model import Finding, Severity
from ..suggest import did_you_mean
from ..yamlio import LineDict, load_one
from . import _params
from ._memory_caps import DEFAULT as DEFAULT_MEMORY_CAPS
from ._memory_caps import MemoryCapPolicy
from ._memory_caps import parse as parse_memory_caps

POLICY_DIR = "policies"
FILES = ("workload-pools.yaml", "gpu-sharing.yaml", "gpu-daemonsets.yaml", "workload-checks.yaml")


@dataclass
class WorkloadType:
    name: str
    pools: list[str]
    priority_class: str | None = None
    high_availability: bool = False
    mig_profiles: list[str] | None = None


@dataclass
class Policy:
    workload_type_label: str = "mlplatform.example.com/workload-type"
    types: dict[str, WorkloadType] = field(default_factory=dict)
    untyped_pools: list[str] = field(default_factory=list)
    # validated parameters of each file, every declared one present (_params.py holds types and defaults)
    gpu_sharing: dict[str, Any] = field(default_factory=lambda: _params.defaults(_params.GPU_SHARING))
    gpu_daemonsets: dict[str, Any] = field(default_factory=lambda: _params.defaults(_params.GPU_DAEMONSETS))
    workload_checks: dict[str, Any] = field(default_factory=lambda: _params.defaults(_params.WORKLOAD_CHECKS))
    # problems in the policy files (category policy/), each with file and line
    problems: list[Finding] = field(default_factory=list)
    # gpu-sharing.yaml memory_cap, parsed with its lines (rule gpu-memory-uncapped)
    memory_caps: MemoryCapPolicy = DEFAULT_MEMORY_CAPS
    # policy file -> line of each top-level key, for findings about the policy itself
    files: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


TYPE_KEYS = ("pools", "priority_class", "high_availability", "mig_profiles")


def _types(raw: Any, file: str) -> dict[str, WorkloadType]:
    """`types` of workload-pools.yaml; InputError at the line of the first value of the wrong type."""
    if not isinstance(raw, dict):
        raise InputError("types: expected a mapping of workload type to settings", file, getattr(raw, "line", 1))
    out = {}
    for name, row in raw.items():
        line = raw.line_of(name) if hasattr(raw, "line_of") else 1
        if not isinstance(row, dict) or not isinstance(row.get("pools"), list):
            raise InputError(f"types.{name}: expected a mapping with a 'pools' list", file, line)

        def at(key: str, row: Any = row, line: int = line) -> int:
            return row.line_of(key) if hasattr(row, "line_of") else line

        for key in row:
            if key not in TYPE_KEYS:
                raise InputError(f"types.{name}.{key}: unknown key{did_you_mean(str(key), TYPE_KEYS)} "
                                 f"(known: {', '.join(TYPE_KEYS)})", file, at(key))
        priority, ha, profiles = (row.get(k) for k in TYPE_KEYS[1:])
        pools: list[Any] = row["pools"]  # a list: checked above
        if not all(isinstance(p, str) for p in pools):
            raise InputError(f"types.{name}.pools: expected a list of pool names", file, at("pools"))
        if priority is not None and not isinstance(priority, str):
            raise InputError(f"types.{name}.priority_class: expected a PriorityClass name", file, at("priority_class"))
        if ha is not None and not isinstance(ha, bool):
            raise InputError(f"types.{name}.high_availability: expected true or false", file, at("high_availability"))
        if profiles is not None and (not isinstance(profiles, list) or not all(isinstance(p, str) for p in profiles)):
            raise InputError(f"types.{name}.mig_profiles: expected a list of MIG profile names", file,
                             at("mig_profiles"))
        out[str(name)] = WorkloadType(name=str(name), pools=list(pools), priority_class=priority,
                                      high_availability=bool(ha),
                                      mig_profiles=None if profiles is None else list(profiles))
    return out


RULE_UNREADABLE = "policy/file-unreadable"


def _problem(rule: str, message: str, file: str, line: int | None) -> Finding:
    return Finding(rule, Severity.ERROR, message, file=file, line=line or 1)


def load_policy(repo: Path, cluster: str | None = None) -> Policy:
    """Read policies/; a missing file leaves its defaults and is named in `missing` (reported once)."""
    policy = Policy()
    raw: dict[str, Any] = {}
    for name in FILES:
        path = repo / POLICY_DIR / name
        rel = f"{POLICY_DIR}/{name}"
        policy.files[name] = rel
        raw[name] = {}
        if not path.is_file():
            policy.missing.append(rel)
            continue
        if resolve_inside(repo, path) is None:  # a symlink out of the repository is never read
            policy.problems.append(_problem(RULE_UNREADABLE, "is a symlink out of the repository; not read, its "
                                            "rules use the defaults", rel, 1))
            continue
        try:
            data = load_one(path)
        except InputError as exc:
            policy.problems.append(_problem(RULE_UNREADABLE, f"cannot read the policy ({exc.message}); its rules "
                                            "use the defaults", rel, exc.line))
            continue
        if data is None:
            data = {}
        if not isinstance(data, dict):
            policy.problems.append(_problem(RULE_UNREADABLE, "expected a mapping of parameters; its rules use the "
                                            "defaults", rel, 1))
            continue
        raw[name] = data
    try:
        _workload_pools(policy, raw["workload-pools.yaml"], cluster)
    except InputError as exc:
        policy.problems.append(_problem(_params.RULE_INVALID, exc.message, exc.file or
                                        policy.files["workload-pools.yaml"], exc.line))
    for name, params in _params.PARAMETERS.items():
        values, problems = _params.validate(raw[name], params, policy.files[name])
        policy.problems += problems
        setattr(policy, _ATTRIBUTE[name], values)
    sharing = raw["gpu-sharing.yaml"]
    if isinstance(sharing.get("memory_cap"), dict):  # anything else: _params reported it
        try:
            policy.memory_caps = parse_memory_caps(sharing["memory_cap"], policy.files["gpu-sharing.yaml"])
        except InputError as exc:
            policy.problems.append(_problem(_params.RULE_INVALID, f"{exc.message}; rule gpu-memory-uncapped uses "
                                            "the built-in mechanisms", exc.file or policy.files["gpu-sharing.yaml"],
                                            exc.line))
    return policy


_ATTRIBUTE = {"workload-checks.yaml": "workload_checks", "gpu-sharing.yaml": "gpu_sharing",
              "gpu-daemonsets.yaml": "gpu_daemonsets"}
# the keys of workload-pools.yaml (its own structure, read by _workload_pools)
WORKLOAD_POOLS_KEYS = ("workload_type_label", "types", "untyped_pools", "clusters")


def _line(mapping: dict[Any, Any], key: Any) -> int:
    """The line of `key` in a mapping read from YAML (1 for one built in code, which has no lines)."""
    return mapping.line_of(key) if isinstance(mapping, LineDict) else 1


def _strings(raw: Any, where: str, file: str, line: int) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise InputError(f"{where}: expected a list of pool names", file, line)
    return list(raw)


def _workload_pools(policy: Policy, wp: Any, cluster: str | None) -> None:
    """workload-pools.yaml; InputError at the line of the first problem (the rest keeps its defaults)."""
    if not wp:
        return
    rel = policy.files["workload-pools.yaml"]
    for key in wp:
        if key not in WORKLOAD_POOLS_KEYS:
            policy.problems.append(_problem(_params.RULE_UNKNOWN, f"{key}: no rule reads this key"
                                            f"{did_you_mean(str(key), WORKLOAD_POOLS_KEYS)}", rel, wp.line_of(key)))
    label = wp.get("workload_type_label")
    if label is not None and (not isinstance(label, str) or not label):
        raise InputError("workload_type_label: expected a label key", rel, wp.line_of("workload_type_label"))
    policy.workload_type_label = label or policy.workload_type_label
    policy.types = _types(wp.get("types") or {}, rel)
    if wp.get("untyped_pools") is not None:
        policy.untyped_pools = _strings(wp["untyped_pools"], "untyped_pools", rel, wp.line_of("untyped_pools"))
    clusters = wp.get("clusters") or {}
    if not isinstance(clusters, dict):
        raise InputError("clusters: expected a mapping of cluster name to overrides", rel, wp.line_of("clusters"))
    overrides = clusters.get(cluster) if cluster else None
    if overrides is not None and not isinstance(overrides, dict):
        raise InputError(f"clusters.{cluster}: expected a mapping with types and/or untyped_pools", rel,
                         _line(clusters, cluster))
    if overrides:
        if "types" in overrides:
            policy.types.update(_types(overrides["types"], rel))
        if "untyped_pools" in overrides:
            policy.untyped_pools = _strings(overrides["untyped_pools"], f"clusters.{cluster}.untyped_pools", rel,
                                            _line(overrides, "untyped_pools"))
