"""Pinned facts: instance types, GPU models, MIG profile geometry and EKS allocatable constants (data/catalog.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from . import yamlio


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpu: int
    memory_gib: int
    enis: int
    ipv4_per_eni: int
    gpu_model: str | None
    gpu_count: int
    price_on_demand_usd_per_hour: float
    efa: int = 0  # EFA interfaces (vpc.amazonaws.com/efa once the EFA device plugin runs); 0 = no EFA


@dataclass(frozen=True)
class MigProfile:
    name: str  # e.g. 3g.40gb
    shape: str  # key into Catalog.mig_shapes, e.g. 3g
    compute_slices: int
    memory_slices: int
    starts: tuple[int, ...]
    max_count: int


@dataclass(frozen=True)
class GpuModel:
    name: str  # canonical, e.g. A100-80GB
    memory_mib: int
    product_names: tuple[str, ...]
    mig_profiles: dict[str, MigProfile]  # profile name -> geometry; empty when MIG is not supported
    # Value of the k8s.amazonaws.com/accelerator label cluster-autoscaler's AWS provider knows, or None
    autoscaler_gpu_type: str | None = None

    @property
    def supports_mig(self) -> bool:
        return bool(self.mig_profiles)


@dataclass(frozen=True)
class MaxPods:
    """kubelet maxPods of an instance type on EKS: VPC CNI without and with prefix delegation."""

    eni: int
    prefix_delegation: int


@dataclass(frozen=True)
class CpuReservedBand:
    """kube-reserved CPU: `fraction` of each core from `from_core` to `to_core` (1-based, inclusive; None:
    every core above)."""

    from_core: int
    to_core: int | None
    fraction: float


@dataclass(frozen=True)
class ManagedNodeGroupMaxPods:
    """The maxPods cap EKS writes into a managed node group's user data, by vCPU count."""

    vcpu_threshold: int
    at_or_below: int
    above: int


@dataclass(frozen=True)
class EksAllocatable:
    """The constants of node allocatable on EKS (catalog.yaml `eks_allocatable`)."""

    cpu_reserved_fractions: tuple[CpuReservedBand, ...]
    memory_reserved_mib_per_pod: int
    memory_reserved_mib_base: int
    eviction_hard_memory_mib: int
    ephemeral_reserved_gib: int
    managed_node_group_max_pods: ManagedNodeGroupMaxPods | None


@dataclass(frozen=True)
class Catalog:
    instance_types: dict[str, InstanceType]
    gpu_models: dict[str, GpuModel]
    compute_slices_per_gpu: int
    memory_slices_per_gpu: int
    eks: EksAllocatable
    sources: dict[str, str]
    max_pods: dict[str, MaxPods] = field(default_factory=dict)  # instance type -> pod limits (eks_max_pods)

    def gpu_model(self, name: str) -> GpuModel | None:
        """Find a GPU model by canonical name or GFD product name, ignoring case."""
        wanted = name.strip().lower()
        for model in self.gpu_models.values():
            if model.name.lower() == wanted or wanted in (p.lower() for p in model.product_names):
                return model
        # GFD appends -SHARED to the product of a time-sliced GPU that is not renamed.
        if wanted.endswith("-shared"):
            return self.gpu_model(name[: -len("-shared")])
        return None

    def gpu_model_of_instance(self, instance_type: str) -> GpuModel | None:
        it = self.instance_types.get(instance_type)
        if it is None or it.gpu_model is None:
            return None
        return self.gpu_models[it.gpu_model]


def _public(table: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in table.items() if not k.startswith("_")}


def _eks_allocatable(row: dict[str, Any]) -> EksAllocatable:
    cap = row.get("managed_node_group_max_pods")
    return EksAllocatable(
        cpu_reserved_fractions=tuple(
            CpuReservedBand(band["from_core"], band["to_core"], band["fraction"])
            for band in row["cpu_reserved_fractions"]
        ),
        memory_reserved_mib_per_pod=row["memory_reserved_mib_per_pod"],
        memory_reserved_mib_base=row["memory_reserved_mib_base"],
        eviction_hard_memory_mib=row["eviction_hard_memory_mib"],
        ephemeral_reserved_gib=row["ephemeral_reserved_gib"],
        managed_node_group_max_pods=(
            ManagedNodeGroupMaxPods(cap["vcpu_threshold"], cap["at_or_below"], cap["above"]) if cap else None
        ),
    )


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    raw = yamlio.safe_load(resources.files("mlplatform").joinpath("data/catalog.yaml").read_text("utf-8"))
    instance_types = {
        name: InstanceType(
            name=name,
            vcpu=row["vcpu"],
            memory_gib=row["memory_gib"],
            enis=row["enis"],
            ipv4_per_eni=row["ipv4_per_eni"],
            gpu_model=row["gpu"],
            gpu_count=row["gpu_count"],
            price_on_demand_usd_per_hour=float(row["price_on_demand_usd_per_hour"]),
            efa=int(row.get("efa") or 0),
        )
        for name, row in _public(raw["instance_types"]).items()
    }
    shapes = raw["mig_shapes"]["shapes"]
    gpu_models = {}
    for name, row in _public(raw["gpu_models"]).items():
        profiles = {}
        for shape, profile_name in (row.get("mig") or {}).items():
            s = shapes[shape]
            profiles[profile_name] = MigProfile(
                name=profile_name,
                shape=shape,
                compute_slices=s["compute_slices"],
                memory_slices=s["memory_slices"],
                starts=tuple(s["starts"]),
                max_count=s["max_count"],
            )
        gpu_models[name] = GpuModel(
            name=name,
            memory_mib=row["memory_mib"],
            product_names=tuple(row["product_names"]),
            mig_profiles=profiles,
            autoscaler_gpu_type=row.get("autoscaler_gpu_type"),
        )
    sources = {key: f"{raw[key]['_source'].strip()} (read {raw[key]['_date']})" for key in raw}
    return Catalog(
        instance_types=instance_types,
        gpu_models=gpu_models,
        compute_slices_per_gpu=raw["mig_shapes"]["compute_slices_per_gpu"],
        memory_slices_per_gpu=raw["mig_shapes"]["memory_slices_per_gpu"],
        eks=_eks_allocatable(raw["eks_allocatable"]),
        sources=sources,
        max_pods={
            name: MaxPods(eni=row["eni"], prefix_delegation=row["prefix_delegation"])
            for name, row in _public(raw.get("eks_max_pods") or {}).items()
        },
    )
