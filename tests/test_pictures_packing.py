"""The packing picture's data: every MIG instance and time-slicing replica of the plan, and who holds it."""

from __future__ import annotations

from collections import Counter

import pytest

from helpers import REPO_ROOT, crd_schema_dir
from mlplatform.capacity.plan import ClusterPlan
from mlplatform.catalog import load_catalog
from mlplatform.config import load_config
from mlplatform.pictures.collect import collect
from mlplatform.pictures.packing import display_name, pool_packing, short_name


@pytest.fixture(scope="module")
def plan() -> ClusterPlan:
    config = load_config(REPO_ROOT, schema_locations=[str(crd_schema_dir())])
    return collect(config, ["production"], plans=True).plans["production"]


def _pool(plan: ClusterPlan, name: str):
    return next(p for p in plan.pools if p.pool.name == name)


@pytest.mark.parametrize("level", ["max", "min"])
def test_every_mig_instance_of_the_pool_is_drawn_with_its_holder(plan: ClusterPlan, level: str) -> None:
    catalog = load_catalog()
    pool = _pool(plan, "a100-mig")
    view = pool_packing(pool, catalog, level)
    layout = pool.pool.gpu.mig_layout  # {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1} per GPU
    nodes = pool.billed_nodes((pool.at_max if level == "max" else pool.at_min).nodes)
    assert len(view.nodes) == nodes
    per_gpu = sum(layout.values())
    assert len(view.cells) == nodes * 8 * per_gpu  # p4de.24xlarge: 8 GPUs
    # each GPU: the layout's instances, side by side on the 8 memory slices, never overlapping
    for node in range(1, nodes + 1):
        for gpu in range(8):
            cells = sorted((c for c in view.cells if c.node == node and c.gpu == gpu), key=lambda c: c.start)
            assert Counter(c.profile for c in cells) == Counter(layout)
            assert all(a.start + a.size <= b.start for a, b in zip(cells, cells[1:], strict=False))
            assert cells[-1].start + cells[-1].size <= 8
    # each workload holds exactly the instances its replicas request at this demand
    held = Counter((c.workload, c.profile) for c in view.cells if c.workload)
    expected: Counter = Counter()
    for w in pool.workloads:
        replicas = w.max_replicas if level == "max" else w.min_replicas
        for resource, amount in w.requests.items():
            if resource.startswith("nvidia.com/mig-"):
                expected[(display_name(w.name), resource.removeprefix("nvidia.com/mig-"))] += amount * replicas
    assert held == expected
    # JSON for the chart: one description per instance, naming pool, node, GPU, profile and holder
    data = view.to_json()
    assert {c["short"] for c in data["cells"] if c["held"]} == {"agent-guard", "tgi", "triton", "vllm"}
    assert len({c["description"] for c in data["cells"]}) == len(data["cells"])
    assert data["held"] == sum(expected.values())


def test_time_sliced_replicas_spread_over_gpus_like_the_device_plugin(plan: ClusterPlan) -> None:
    pool = _pool(plan, "a100-timeslice")
    view = pool_packing(pool, load_catalog(), "max")
    replicas = pool.pool.gpu.replicas
    assert {c.profile for c in view.cells} == {f"replica {r + 1} of {replicas}" for r in range(replicas)}
    held = Counter(c.workload for c in view.cells if c.workload)
    assert sum(held.values()) == pool.gpu[0]["requested_at_max_demand"]
    # distributed policy: per node, the GPUs' held replicas differ by at most one
    for node in {c.node for c in view.cells}:
        per_gpu = Counter(c.gpu for c in view.cells if c.node == node and c.workload)
        counts = [per_gpu.get(g, 0) for g in range(8)]
        assert max(counts) - min(counts) <= 1, counts


def test_training_roles_keep_their_job_name(plan: ClusterPlan) -> None:
    view = pool_packing(_pool(plan, "a100-timeslice-spot"), load_catalog(), "max").to_json()
    held = Counter(c["short"] for c in view["cells"] if c["held"])
    assert held == {"llm-pretrain-spot [Master]": 1, "llm-pretrain-spot [Worker]": 3}


def test_idle_nodes_kept_by_min_size_are_shown_free(plan: ClusterPlan) -> None:
    # a100-mig keeps min_size 2 nodes; at minimum demand its pods fit on one, so the second is billed and idle
    pool = _pool(plan, "a100-mig")
    assert pool.pool.min_size == 2 and pool.at_min.nodes == 1
    view = pool_packing(pool, load_catalog(), "min")
    assert [n.state for n in view.nodes] == ["needed", "idle"]
    assert all(c.workload is None for c in view.cells if c.node == 2)
    assert any(c.workload is not None for c in view.cells if c.node == 1)


def test_names() -> None:
    assert short_name("inference/vllm") == "vllm"
    assert short_name("training/recsys-train [Chief]") == "recsys-train [Chief]"
    assert display_name("Deployment inference/vllm") == "inference/vllm"
