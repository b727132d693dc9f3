"""EKS allocatable math and GPU units against the worked values in docs/facts.md."""

from __future__ import annotations

import pytest

from mlplatform.allocatable import (
    gpu_units,
    kube_reserved_cpu_millicores,
    max_pods,
    node_allocatable,
)
from mlplatform.catalog import load_catalog
from mlplatform.errors import ToolError
from mlplatform.model import GpuSharing, Pool

CATALOG = load_catalog()
MIB = 2**20
GIB = 2**30


def pool(instance_type: str, gpu: GpuSharing | None = None) -> Pool:
    return Pool(
        name="p",
        instance_types=[instance_type],
        capacity_type="on-demand",
        min_size=0,
        max_size=1,
        desired_size=0,
        gpu=gpu,
    )


@pytest.mark.parametrize(("vcpu", "millicores"), [(4, 80), (96, 310), (192, 550), (1, 60), (2, 70), (8, 90)])
def test_kube_reserved_cpu_worked_values(vcpu: int, millicores: int) -> None:
    assert kube_reserved_cpu_millicores(vcpu, CATALOG) == millicores


# The "max pods" column of docs/facts.md#instance-types.
@pytest.mark.parametrize(
    ("instance_type", "pods"),
    [
        ("m5.2xlarge", 58),
        ("m5.4xlarge", 234),
        ("p4d.24xlarge", 737),
        ("p4de.24xlarge", 737),
        ("p5.48xlarge", 100),
        ("p5en.48xlarge", 198),
        ("g5.xlarge", 58),
        ("g5.12xlarge", 737),
        ("g6.xlarge", 58),
        ("g6e.xlarge", 58),
    ],
)
def test_max_pods_table(instance_type: str, pods: int) -> None:
    assert max_pods(CATALOG.instance_types[instance_type]) == pods
    assert node_allocatable(pool(instance_type), CATALOG)["pods"] == pods


def test_allocatable_p4d_worked_by_hand() -> None:
    alloc = node_allocatable(pool("p4d.24xlarge", GpuSharing("none")), CATALOG)
    assert alloc["cpu"] == 96_000 - 310
    # 11 MiB x 737 pods + 255 MiB kube-reserved, 100 MiB eviction threshold.
    assert alloc["memory"] == 1152 * GIB - (11 * 737 + 255) * MIB - 100 * MIB
    assert alloc["nvidia.com/gpu"] == 8


def test_allocatable_cpu_node_has_no_gpu() -> None:
    alloc = node_allocatable(pool("m5.2xlarge"), CATALOG)
    assert alloc == {"cpu": 8000 - 90, "memory": 32 * GIB - (11 * 58 + 255 + 100) * MIB, "pods": 58}
    assert gpu_units(pool("m5.2xlarge"), CATALOG) == {}


def test_gpu_units_none_sharing() -> None:
    assert gpu_units(pool("p5.48xlarge", GpuSharing("none")), CATALOG) == {"nvidia.com/gpu": 8}
    assert gpu_units(pool("g5.12xlarge", None), CATALOG) == {"nvidia.com/gpu": 4}


@pytest.mark.parametrize("replicas", [2, 3, 4])
def test_gpu_units_time_slicing(replicas: int) -> None:
    units = gpu_units(pool("p4d.24xlarge", GpuSharing("time-slicing", replicas=replicas)), CATALOG)
    assert units == {"nvidia.com/gpu": 8 * replicas}


def test_gpu_units_mig_mixed_strategy() -> None:
    layout = {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}
    units = gpu_units(pool("p4de.24xlarge", GpuSharing("mig", mig_layout=layout)), CATALOG)
    assert units == {"nvidia.com/mig-1g.10gb": 16, "nvidia.com/mig-2g.20gb": 8, "nvidia.com/mig-3g.40gb": 8}


def test_unknown_instance_type_is_a_tool_error() -> None:
    with pytest.raises(ToolError, match="not in the catalog"):
        node_allocatable(pool("x9.mega"), CATALOG)


@pytest.mark.parametrize(("instance_type", "efa"), [("p4d.24xlarge", 4), ("p5.48xlarge", 32), ("p5en.48xlarge", 16)])
def test_efa_pools_advertise_one_unit_per_efa_interface(instance_type: str, efa: int) -> None:
    efa_pool = pool(instance_type, GpuSharing("none"))
    efa_pool.extra["efa"] = True
    assert node_allocatable(efa_pool, CATALOG)["vpc.amazonaws.com/efa"] == efa
    # Without efa: true the node has no EFA interfaces attached, whatever the instance type could carry.
    assert "vpc.amazonaws.com/efa" not in node_allocatable(pool(instance_type, GpuSharing("none")), CATALOG)


# ---------------------------------------------------------------- issue 19: answers no test pinned down


def test_time_sliced_pool_without_replicas_advertises_each_gpu_once() -> None:
    # No replicas given: the device plugin advertises every physical GPU once (replicas default to 1).
    assert gpu_units(pool("p4d.24xlarge", GpuSharing("time-slicing")), CATALOG) == {"nvidia.com/gpu": 8}
    assert gpu_units(pool("g5.12xlarge", GpuSharing("time-slicing", replicas=0)), CATALOG) == {"nvidia.com/gpu": 4}


def test_mig_profile_with_count_zero_is_no_resource() -> None:
    # mixed strategy: a profile with no instance on the GPU is not advertised at all (not as 0)
    layout = {"1g.10gb": 0, "3g.40gb": 2}
    units = gpu_units(pool("p4de.24xlarge", GpuSharing("mig", mig_layout=layout)), CATALOG)
    assert units == {"nvidia.com/mig-3g.40gb": 16}
    assert gpu_units(pool("p4de.24xlarge", GpuSharing("mig")), CATALOG) == {}  # no layout yet: nothing


def test_allocatable_of_a_mig_node_has_no_whole_gpus() -> None:
    layout = {"7g.80gb": 1}
    alloc = node_allocatable(pool("p4de.24xlarge", GpuSharing("mig", mig_layout=layout)), CATALOG)
    assert alloc == {
        "cpu": 96_000 - 310,
        "memory": 1152 * GIB - (11 * 737 + 255) * MIB - 100 * MIB,
        "pods": 737,
        "nvidia.com/mig-7g.80gb": 8,
    }


def test_unknown_instance_type_names_the_pool_file_line_and_the_known_types() -> None:
    bad = pool("x9.mega")
    bad.file, bad.field_lines = "terraform/environments/production/node-pools.yaml", {"instance_types": 14}
    with pytest.raises(ToolError) as info:
        gpu_units(bad, CATALOG)
    assert (info.value.file, info.value.line) == ("terraform/environments/production/node-pools.yaml", 14)
    known = ", ".join(sorted(CATALOG.instance_types))
    assert known.startswith("g5.12xlarge, g5.xlarge, ")
    assert info.value.message == f"pool p: instance type 'x9.mega' is not in the catalog (known: {known})"
    # a pool built in code (no file) gives neither file nor line, not "" and 0
    with pytest.raises(ToolError) as info:
        node_allocatable(pool("x9.mega"), CATALOG)
    assert (info.value.file, info.value.line) == (None, None)
