"""MIG geometry: whether a layout of GPU instances can be placed on one GPU, and every layout that can.

NVIDIA's rule (MIG User Guide, `nvidia-smi mig -lgipp`; docs/facts.md#mig-geometry-and-mig-parted): each
profile takes a number of compute slices and a run of memory slices that may start only at certain positions;
instances on one GPU may not overlap, no profile exceeds its max count, and the compute slices add up to at
most 7. The geometry lives in data/catalog.yaml (mig_shapes); this module only searches it, exactly, with memoisation.
"""

from __future__ import annotations

from functools import lru_cache

from .catalog import Catalog, GpuModel, MigProfile, load_catalog
from .errors import ToolError

# (profile name, compute slices, memory slices, allowed starts, max count), in catalog order.
Geometry = tuple[tuple[str, int, int, tuple[int, ...], int], ...]


def resolve_gpu(gpu: GpuModel | str, catalog: Catalog | None = None) -> GpuModel:
    """A GpuModel from a model or a name (canonical or GFD product, any case); ToolError when unknown."""
    if isinstance(gpu, GpuModel):
        return gpu
    catalog = catalog or load_catalog()
    model = catalog.gpu_model(gpu)
    if model is None:
        known = ", ".join(sorted(catalog.gpu_models))
        raise ToolError(f"unknown GPU {gpu!r} (known: {known}, or a GPU Feature Discovery product name)")
    return model


def _geometry(model: GpuModel) -> Geometry:
    return tuple(
        (p.name, p.compute_slices, p.memory_slices, p.starts, p.max_count)
        for p in model.mig_profiles.values()
    )


def _mask(start: int, memory_slices: int) -> int:
    return ((1 << memory_slices) - 1) << start


@lru_cache(maxsize=65536)
def _place(
    geometry: Geometry, memory_slices_per_gpu: int, counts: tuple[int, ...], occupied: int
) -> tuple[tuple[int, int], ...] | None:
    """Starts for the remaining instances (profile index, start), or None when they cannot all be placed.

    Places the first remaining profile with the most memory slices first (fewest choices); the memo on
    (counts, occupied mask) keeps the search small: at most 2^8 masks per count vector.
    """
    remaining = [i for i, c in enumerate(counts) if c > 0]
    if not remaining:
        return ()
    index = max(remaining, key=lambda i: (geometry[i][2], -len(geometry[i][3])))
    _, _, memory_slices, starts, _ = geometry[index]
    rest = counts[:index] + (counts[index] - 1,) + counts[index + 1 :]
    full = (1 << memory_slices_per_gpu) - 1
    for start in starts:
        bits = _mask(start, memory_slices)
        if bits & ~full or bits & occupied:
            continue
        tail = _place(geometry, memory_slices_per_gpu, rest, occupied | bits)
        if tail is not None:
            return ((index, start), *tail)
    return None


def _check_counts(
    model: GpuModel, layout: dict[str, int], catalog: Catalog
) -> tuple[tuple[int, ...] | None, str]:
    """The layout as a count vector in catalog order, or None and why it is invalid before any placement."""
    if not model.supports_mig:
        return None, f"{model.name} does not support MIG"
    profiles = model.mig_profiles
    for name, count in layout.items():
        if name not in profiles:
            return None, f"{name} is not a MIG profile of {model.name} (profiles: {', '.join(profiles)})"
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            return None, f"{name}: count must be a whole number >= 0, got {count!r}"
    counts = tuple(layout.get(name, 0) for name in profiles)
    if sum(counts) == 0:
        return None, "empty layout: no MIG instances"
    for profile, count in zip(profiles.values(), counts, strict=True):
        if count > profile.max_count:
            return None, f"{profile.name} x{count} exceeds its maximum of {profile.max_count} per GPU"
    compute = sum(p.compute_slices * c for p, c in zip(profiles.values(), counts, strict=True))
    if compute > catalog.compute_slices_per_gpu:
        return None, f"needs {compute} compute slices; a GPU has {catalog.compute_slices_per_gpu}"
    memory = sum(p.memory_slices * c for p, c in zip(profiles.values(), counts, strict=True))
    if memory > catalog.memory_slices_per_gpu:
        return None, f"needs {memory} memory slices; a GPU has {catalog.memory_slices_per_gpu}"
    return counts, ""


def placement(
    gpu: GpuModel | str, layout: dict[str, int], catalog: Catalog | None = None
) -> list[tuple[str, int]] | None:
    """One valid placement as (profile, first memory slice), or None when the layout is invalid."""
    catalog = catalog or load_catalog()
    model = resolve_gpu(gpu, catalog)
    counts, _ = _check_counts(model, layout, catalog)
    if counts is None:
        return None
    geometry = _geometry(model)
    found = _place(geometry, catalog.memory_slices_per_gpu, counts, 0)
    if found is None:
        return None
    return sorted(((geometry[i][0], start) for i, start in found), key=lambda item: item[1])


def validate_layout(
    gpu_model: GpuModel | str, layout: dict[str, int], catalog: Catalog | None = None
) -> tuple[bool, str]:
    """(valid, reason): a valid layout's reason shows one placement; an invalid one's says what breaks."""
    catalog = catalog or load_catalog()
    model = resolve_gpu(gpu_model, catalog)
    counts, reason = _check_counts(model, layout, catalog)
    if counts is None:
        return False, reason
    found = placement(model, layout, catalog)
    if found is None:
        return False, (
            "no placement: the instances' memory slices overlap at every allowed start "
            "(" + _starts_text(model, layout) + ")"
        )
    slots = ", ".join(f"{name}@{start}" for name, start in found)
    return True, f"fits one {model.name} (instance@first memory slice: {slots})"


def _starts_text(model: GpuModel, layout: dict[str, int]) -> str:
    parts = []
    for name, count in layout.items():
        if count:
            p: MigProfile = model.mig_profiles[name]
            parts.append(
                f"{name} x{count} takes {p.memory_slices} of 8 memory slices, "
                f"starting at {','.join(map(str, p.starts))}"
            )
    return "; ".join(parts)


@lru_cache(maxsize=32)
def _valid_layouts(
    geometry: Geometry, compute_per_gpu: int, memory_per_gpu: int
) -> tuple[tuple[int, ...], ...]:
    found: list[tuple[int, ...]] = []

    def walk(index: int, counts: list[int], compute: int, memory: int) -> None:
        if index == len(geometry):
            if sum(counts) and _place(geometry, memory_per_gpu, tuple(counts), 0) is not None:
                found.append(tuple(counts))
            return
        _, c_slices, m_slices, _, max_count = geometry[index]
        for count in range(max_count + 1):
            c, m = compute + c_slices * count, memory + m_slices * count
            if c > compute_per_gpu or m > memory_per_gpu:
                break
            counts.append(count)
            walk(index + 1, counts, c, m)
            counts.pop()

    walk(0, [], 0, 0)
    # Largest layouts first (most compute used), then by profile counts, so the order is stable and useful.
    weights = [g[1] for g in geometry]
    found.sort(key=lambda cs: (-sum(w * c for w, c in zip(weights, cs, strict=True)), tuple(-c for c in cs)))
    return tuple(found)


def valid_layouts(gpu_model: GpuModel | str, catalog: Catalog | None = None) -> list[dict[str, int]]:
    """Every valid non-empty layout of one GPU, each a map of profile to count (profiles with 0 left out)."""
    catalog = catalog or load_catalog()
    model = resolve_gpu(gpu_model, catalog)
    if not model.supports_mig:
        return []
    geometry = _geometry(model)
    layouts = _valid_layouts(geometry, catalog.compute_slices_per_gpu, catalog.memory_slices_per_gpu)
    names = [g[0] for g in geometry]
    return [{name: c for name, c in zip(names, counts, strict=True) if c} for counts in layouts]
