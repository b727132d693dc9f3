"""Node capacity per pool: EKS allocatable CPU, memory and pods, and the GPU units the pool advertises.

Resource names are Kubernetes names: "cpu" (millicores), "memory" (bytes), "pods", "nvidia.com/gpu",
"nvidia.com/mig-1g.10gb", ... The formulas are those of the EKS AL2023 bootstrap (nodeadm), with the
constants pinned in data/catalog.yaml (eks_allocatable) and explained in docs/facts.md#eks-node-allocatable.
"""

from __future__ import annotations

from .catalog import Catalog, InstanceType
from .errors import ToolError
from .model import GPU_RESOURCE, MIG_RESOURCE_PREFIX, Pool, SharingMode

MIB = 2**20
GIB = 2**30
EFA_RESOURCE = "vpc.amazonaws.com/efa"


def mig_resource(profile: str) -> str:
    """The extended resource a profile is advertised as under the device plugin's `mixed` MIG strategy."""
    return f"{MIG_RESOURCE_PREFIX}{profile}"


def instance_type_of(pool: Pool, catalog: Catalog) -> InstanceType:
    """The pool's planning instance type (the first entry), or a ToolError naming the pool file line."""
    name = pool.planning_instance_type
    it = catalog.instance_types.get(name)
    if it is None:
        raise ToolError(
            f"pool {pool.name}: instance type {name!r} is not in the catalog "
            f"(known: {', '.join(sorted(catalog.instance_types))})",
            pool.file or None,
            pool.line_of("instance_types") or None,
        )
    return it


def max_pods(it: InstanceType) -> int:
    """VPC CNI without prefix delegation: ENIs x (IPv4 addresses per ENI - 1) + 2 (eni_max_pods.go)."""
    return it.enis * (it.ipv4_per_eni - 1) + 2


def kube_reserved_cpu_millicores(vcpu: int, catalog: Catalog) -> int:
    """Sum of a fraction of each core, by core index (config.go): 6% of core 1, 1% of core 2, ..."""
    total = 0.0
    for band in catalog.eks.cpu_reserved_fractions:
        first = band.from_core
        last = vcpu if band.to_core is None else min(band.to_core, vcpu)
        cores = max(0, last - first + 1)
        total += cores * 1000 * band.fraction
    # Fractions like 0.0025 x 1000 are not exact in binary floating point; round to the nearest millicore.
    return round(total)


def kube_reserved_memory_bytes(pods: int, catalog: Catalog) -> int:
    eks = catalog.eks
    return (eks.memory_reserved_mib_per_pod * pods + eks.memory_reserved_mib_base) * MIB


def node_allocatable(pool: Pool, catalog: Catalog) -> dict[str, int]:
    """Allocatable resources of one node of the pool's planning instance type (before DaemonSets)."""
    it = instance_type_of(pool, catalog)
    pods = max_pods(it)
    cpu = it.vcpu * 1000 - kube_reserved_cpu_millicores(it.vcpu, catalog)
    # Nominal instance memory; the kernel keeps a little more on a real node (see docs/capacity.md).
    memory = (
        it.memory_gib * GIB
        - kube_reserved_memory_bytes(pods, catalog)
        - catalog.eks.eviction_hard_memory_mib * MIB
    )
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods}
    allocatable.update(gpu_units(pool, catalog))
    if pool.efa and it.efa:
        # The EFA device plugin advertises one unit per EFA interface, on EFA pools only (docs/pools.md).
        allocatable[EFA_RESOURCE] = it.efa
    return allocatable


def gpu_units(pool: Pool, catalog: Catalog) -> dict[str, int]:
    """GPU resources one node advertises: nvidia.com/gpu = physical x replicas, or one per MIG profile."""
    it = instance_type_of(pool, catalog)
    if it.gpu_count == 0:
        return {}
    if pool.sharing is SharingMode.TIME_SLICING:
        return {GPU_RESOURCE: it.gpu_count * pool.replicas_per_gpu}
    if pool.sharing is SharingMode.MIG:
        layout = pool.mig_layout
        # Mixed strategy: each profile is its own resource; the layout applies to every GPU of the node.
        return {mig_resource(profile): count * it.gpu_count for profile, count in layout.items() if count > 0}
    return {GPU_RESOURCE: it.gpu_count}


def pod_limit(
    pool: Pool, catalog: Catalog, *, prefix_delegation: bool | None, managed_node_group: bool
) -> tuple[int, str]:
    """kubelet maxPods of the pool's nodes and where the number comes from.

    `prefix_delegation` None means the cluster's VPC CNI mode is unknown: the ENI figure of the planning
    type, as `node_allocatable` has it. Known: the catalog's eks_max_pods row (ENI or prefix-delegation
    figure). A managed node group applies the smallest limit of its instance types to every node and is
    capped at 110/250 by EKS (eks_allocatable.managed_node_group_max_pods).
    """
    planning = instance_type_of(pool, catalog)
    if prefix_delegation is None:
        return max_pods(planning), "ENIs x (IPv4 per ENI - 1) + 2 (VPC CNI mode unknown)"
    mode = "prefix_delegation" if prefix_delegation else "eni"
    types = pool.instance_types if managed_node_group else [pool.planning_instance_type]
    limits = []
    for name in types:
        it = catalog.instance_types.get(name)
        if it is None:
            continue
        row = catalog.max_pods.get(name)
        value = getattr(row, mode) if row else max_pods(it)
        if managed_node_group:
            cap = catalog.eks.managed_node_group_max_pods
            if cap:
                value = min(value, cap.above if it.vcpu > cap.vcpu_threshold else cap.at_or_below)
        limits.append(value)
    limit = min(limits) if limits else max_pods(planning)
    basis = "VPC CNI prefix delegation" if prefix_delegation else "VPC CNI secondary IPs"
    if managed_node_group:
        basis += ", EKS managed node group cap, smallest of the pool's instance types"
    return limit, basis
