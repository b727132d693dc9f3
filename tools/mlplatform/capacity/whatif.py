"""What-if: `plan --set pool.key=value` applied to a copy of the pool file (the file is not touched)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml

from ..catalog import Catalog
from ..errors import ToolError
from ..mig import validate_layout
from ..model import CAPACITY_TYPES, SHARING_MODES, GpuSharing, PoolFile, SharingMode
from ..suggest import did_you_mean
from ..zones import ZONE_NAME

# key -> what it takes, for the error message of an unknown key
SETTABLE = {
    "min_size": "a whole number >= 0",
    "max_size": "a whole number >= 0",
    "desired_size": "a whole number >= 0",
    "capacity_type": "on-demand or spot",
    "instance_types": "a list of instance types, e.g. [p4de.24xlarge]",
    "instance_type": "one instance type (becomes instance_types: [it])",
    "gpu.sharing": "none, time-slicing or mig",
    "gpu.replicas": "a whole number >= 2 (time-slicing)",
    "gpu.mig_layout": 'a map of profile to count, e.g. {"3g.40gb": 2}',
    "zones": "a non-empty list of zone ids, e.g. [use1-az1, use1-az2]",
}


@dataclass(frozen=True)
class Override:
    pool: str
    key: str
    value: Any
    text: str  # as given, for messages


def parse_override(text: str) -> Override:
    """`pool.key=value`; the value is read as YAML (8, spot, [p4d.24xlarge], {"3g.40gb": 2})."""
    target, sep, raw = text.partition("=")
    pool, dot, key = target.strip().partition(".")
    if not sep or not dot or not pool or not key:
        raise ToolError(f"--set {text!r}: expected POOL.KEY=VALUE, e.g. a100-timeslice.max_size=8")
    if key not in SETTABLE:
        keys = ", ".join(SETTABLE)
        raise ToolError(f"--set {text!r}: cannot set {key!r} (settable: {keys}){did_you_mean(key, SETTABLE)}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ToolError(f"--set {text!r}: value is not valid YAML ({exc.__class__.__name__})") from None
    return Override(pool, key, value, text)


def _whole(o: Override, minimum: int) -> int:
    if not isinstance(o.value, int) or isinstance(o.value, bool) or o.value < minimum:
        raise ToolError(f"--set {o.text!r}: expected {SETTABLE[o.key]}")
    return o.value


def apply_overrides(pool_file: PoolFile, overrides: list[Override], catalog: Catalog) -> PoolFile:
    """A copy of the pool file with the overrides applied and checked (sizes, types, MIG geometry)."""
    result = copy.deepcopy(pool_file)
    for o in overrides:
        pool = result.pools.get(o.pool)
        if pool is None:
            raise ToolError(
                f"--set {o.text!r}: no pool {o.pool!r} in cluster {result.cluster} "
                f"(pools: {', '.join(result.pools)})"
            )
        if o.key in ("min_size", "max_size", "desired_size"):
            setattr(pool, o.key, _whole(o, 0))
        elif o.key == "capacity_type":
            if o.value not in CAPACITY_TYPES:
                raise ToolError(f"--set {o.text!r}: expected {SETTABLE[o.key]}")
            pool.capacity_type = o.value
        elif o.key == "zones":
            zones = o.value
            if not isinstance(zones, list) or not zones or not all(isinstance(z, str) and z for z in zones):
                raise ToolError(f"--set {o.text!r}: expected {SETTABLE[o.key]}")
            # The cluster's zones are zone ids: a zone name would be planned as a zone of its own.
            named = [z for z in zones if ZONE_NAME.match(z)]
            if named:
                raise ToolError(f"--set {o.text!r}: {named[0]} is a zone name; use its zone id (e.g. use1-az1): "
                                "zone names map to different zones in every AWS account")
            pool.extra["zones"] = list(zones)
        elif o.key in ("instance_types", "instance_type"):
            types = o.value if o.key == "instance_types" else [o.value]
            if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
                raise ToolError(f"--set {o.text!r}: expected {SETTABLE[o.key]}")
            unknown = [t for t in types if t not in catalog.instance_types]
            if unknown:
                raise ToolError(f"--set {o.text!r}: instance type {unknown[0]!r} is not in the catalog")
            pool.instance_types = list(types)
        else:
            gpu = pool.gpu or GpuSharing(sharing=SharingMode.NONE)
            if o.key == "gpu.sharing":
                if o.value not in SHARING_MODES:
                    raise ToolError(f"--set {o.text!r}: expected {SETTABLE[o.key]}")
                gpu.sharing = o.value
            elif o.key == "gpu.replicas":
                gpu.replicas = _whole(o, 2)
            else:
                if not isinstance(o.value, dict) or not all(
                    isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                    for k, v in o.value.items()
                ):
                    raise ToolError(f"--set {o.text!r}: expected {SETTABLE[o.key]}")
                gpu.mig_layout = dict(o.value)
            pool.gpu = gpu
    # Only the pools an override changed: a mistake already in the pool file is a pool-rule error at its line,
    # which the plan lists as making it incomplete (capacity/inputs.py, exit 1), not a refused --set (exit 2).
    for name in dict.fromkeys(o.pool for o in overrides):
        _check_pool(result.pools[name], catalog, result.cluster)
    return result


def _check_pool(pool: Any, catalog: Catalog, cluster: str) -> None:
    where = f"{cluster}/{pool.name}"
    if pool.min_size > pool.max_size:
        raise ToolError(f"{where}: min_size {pool.min_size} is above max_size {pool.max_size}")
    gpu = pool.gpu
    if gpu is None:
        return
    if gpu.mode is SharingMode.TIME_SLICING and (not isinstance(gpu.replicas, int) or gpu.replicas < 2):
        raise ToolError(f"{where}: time-slicing needs gpu.replicas >= 2")
    if gpu.mode is SharingMode.MIG:
        model = catalog.gpu_model_of_instance(pool.planning_instance_type)
        if model is None:
            raise ToolError(f"{where}: {pool.planning_instance_type} has no GPU for MIG")
        valid, reason = validate_layout(model, gpu.mig_layout or {}, catalog)
        if not valid:
            raise ToolError(f"{where}: MIG layout {gpu.mig_layout} on {model.name}: {reason}")
