"""The rules' parameters, read from policies/*.yaml of the repository (data, not code)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..yamlio import load_one, plain
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
    gpu_sharing: dict[str, Any] = field(default_factory=dict)
    gpu_daemonsets: dict[str, Any] = field(default_factory=dict)
    workload_checks: dict[str, Any] = field(default_factory=dict)
    # gpu-sharing.yaml memory_cap, parsed with its lines (rule gpu-memory-uncapped)
    memory_caps: MemoryCapPolicy = DEFAULT_MEMORY_CAPS
    # policy file -> line of each top-level key, for findings about the policy itself
    files: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def _types(raw: Any, file: str) -> dict[str, WorkloadType]:
    if not isinstance(raw, dict):
        raise InputError("types: expected a mapping of workload type to settings", file, 1)
    out = {}
    for name, row in raw.items():
        line = raw.line_of(name) if hasattr(raw, "line_of") else 1
        if not isinstance(row, dict) or not isinstance(row.get("pools"), list):
            raise InputError(f"types.{name}: expected a mapping with a 'pools' list", file, line)
        profiles = row.get("mig_profiles")
        out[str(name)] = WorkloadType(
            name=str(name),
            pools=[str(p) for p in row["pools"]],
            priority_class=row.get("priority_class"),
            high_availability=bool(row.get("high_availability", False)),
            mig_profiles=[str(p) for p in profiles] if isinstance(profiles, list) else None,
        )
    return out


def load_policy(repo: Path, cluster: str | None = None) -> Policy:
    """Read policies/; a missing file leaves its defaults empty and is named in `missing` (reported once)."""
    policy = Policy()
    raw: dict[str, Any] = {}
    for name in FILES:
        path = repo / POLICY_DIR / name
        rel = f"{POLICY_DIR}/{name}"
        policy.files[name] = rel
        if not path.is_file():
            policy.missing.append(rel)
            raw[name] = {}
            continue
        data = load_one(path)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InputError("expected a mapping", rel, 1)
        raw[name] = data
    wp = raw["workload-pools.yaml"]
    if wp:
        rel = policy.files["workload-pools.yaml"]
        policy.workload_type_label = str(wp.get("workload_type_label") or policy.workload_type_label)
        policy.types = _types(wp.get("types") or {}, rel)
        policy.untyped_pools = [str(p) for p in (wp.get("untyped_pools") or [])]
        overrides = (wp.get("clusters") or {}).get(cluster) if cluster else None
        if isinstance(overrides, dict):
            if "types" in overrides:
                policy.types.update(_types(overrides["types"], rel))
            if "untyped_pools" in overrides:
                policy.untyped_pools = [str(p) for p in overrides["untyped_pools"]]
    policy.gpu_sharing = plain(raw["gpu-sharing.yaml"])
    if raw["gpu-sharing.yaml"]:
        sharing = raw["gpu-sharing.yaml"]
        policy.memory_caps = parse_memory_caps(sharing.get("memory_cap"), policy.files["gpu-sharing.yaml"])
    policy.gpu_daemonsets = plain(raw["gpu-daemonsets.yaml"])
    policy.workload_checks = plain(raw["workload-checks.yaml"])
    return policy
