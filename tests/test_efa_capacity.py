"""vpc.amazonaws.com/efa in the node model: EFA pools offer one unit per interface, the planner and the
scheduling simulation count it like any other resource (one rank per node when a rank takes every interface)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlplatform.capacity.fit import RULE_MAX_SIZE, check_fit
from mlplatform.capacity.plan import plan_cluster
from mlplatform.catalog import load_catalog
from mlplatform.config import Config
from mlplatform.context import ClusterContext
from mlplatform.model import GpuSharing, Manifest, Pool, PoolFile, Provenance, Taint
from mlplatform.scheduling import place

CATALOG = load_catalog()
EFA = "vpc.amazonaws.com/efa"


def _pool(name: str, instance_type: str, efa: bool, max_size: int = 4) -> Pool:
    pool = Pool(
        name=name,
        instance_types=[instance_type],
        capacity_type="on-demand",
        min_size=0,
        max_size=max_size,
        desired_size=0,
        labels={"mlplatform.example.com/pool": name},
        taints=[Taint("gpu", "true", "NoSchedule")],
        gpu=GpuSharing("time-slicing", replicas=2),
        file="terraform/environments/test/node-pools.yaml",
        field_lines={"max_size": 9},
    )
    pool.extra["efa"] = efa
    return pool


def _pools(max_size: int = 4) -> PoolFile:
    efa = _pool("a100-efa", "p4d.24xlarge", True, max_size)
    plain = _pool("a100-plain", "p4d.24xlarge", False, max_size)
    return PoolFile("test", "us-east-1", {p.name: p for p in (efa, plain)}, efa.file)


def _spec(efa: int, pool: str | None = None) -> dict[str, Any]:
    limits: dict[str, Any] = {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": 1}
    if efa:
        limits[EFA] = efa
    spec: dict[str, Any] = {
        "tolerations": [{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
        "containers": [{"name": "pytorch", "image": "i", "resources": {"limits": limits}}],
    }
    if pool:
        spec["nodeSelector"] = {"mlplatform.example.com/pool": pool}
    return spec


def _job(efa: int, workers: int = 3) -> Manifest:
    template = {"spec": _spec(efa, "a100-efa")}
    obj = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "pretrain", "namespace": "training"},
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": template},
                "Worker": {"replicas": workers, "template": template},
            }
        },
    }
    return Manifest("test", obj, Provenance("apps/pretrain.yaml", 1))


def test_only_efa_pools_offer_efa_to_the_scheduling_simulation():
    pools = list(_pools().pools.values())
    assert place(_spec(4), pools, CATALOG).fits == ["a100-efa"]
    assert place(_spec(0), pools, CATALOG).fits == ["a100-efa", "a100-plain"]
    too_many = place(_spec(5), pools, CATALOG)
    assert too_many.fits == []
    assert too_many.reasons["a100-efa"] == f"{EFA}: requests 5, a node has 4 allocatable"
    assert too_many.reasons["a100-plain"] == f"no node of the pool offers {EFA}"


def test_the_planner_packs_one_rank_per_node_when_a_rank_takes_every_interface():
    # Four ranks with one time-sliced GPU each fit one node by GPU, CPU and memory; four EFA each do not.
    without = next(p for p in plan_cluster("test", [_job(0)], _pools(), CATALOG).pools if p.pool.name == "a100-efa")
    assert without.at_max.nodes == 1
    plan = plan_cluster("test", [_job(4)], _pools(), CATALOG)
    efa_pool = next(p for p in plan.pools if p.pool.name == "a100-efa")
    assert efa_pool.node_capacity[EFA] == 4 and EFA not in next(
        p for p in plan.pools if p.pool.name == "a100-plain").node_capacity
    assert efa_pool.at_max.nodes == 4 and plan.ok
    # Two interfaces per rank: two ranks per node.
    two = plan_cluster("test", [_job(2)], _pools(), CATALOG)
    assert next(p for p in two.pools if p.pool.name == "a100-efa").at_max.nodes == 2


def test_a_pool_too_small_for_one_rank_per_node_fails_check():
    ctx = ClusterContext(Path("."), Config(repo=Path(".")), "test", [_job(4)], _pools(max_size=2))
    (finding,) = check_fit(ctx)
    assert finding.rule == RULE_MAX_SIZE and finding.line == 9
    assert "pool a100-efa: maximum demand needs 4 nodes" in finding.message
