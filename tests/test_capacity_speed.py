"""The capacity plan does each piece of work once per plan (issue 14): what it reads of every rendered object
and every workload is counted here, on a cluster whose plan asks for several builds of the same pool (minimum
and maximum demand, a zone loss, critical pods). The answers themselves are tested in test_capacity_*.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlplatform.capacity import constraints, plan
from mlplatform.capacity.constraints import PriorityClasses
from mlplatform.capacity.demand import PodDemand
from mlplatform.capacity.facts import ClusterFacts
from mlplatform.capacity.poolpack import Level
from mlplatform.catalog import load_catalog
from mlplatform.cluster_model import ClusterModel
from mlplatform.model import Manifest, ObjectRef, Pool, PoolFile, Provenance

CATALOG = load_catalog()
FILE = "terraform/environments/test/node-pools.yaml"
WORKLOADS = 30


def _manifest(obj: dict[str, Any], name: str) -> Manifest:
    return Manifest("test", obj, Provenance(f"apps/{name}.yaml", 1))


def deployment(name: str, replicas: int, *, critical: bool = False, **spec: Any) -> Manifest:
    pod_spec = {
        "nodeSelector": {"mlplatform.example.com/pool": "web"},
        "containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}],
        **spec,
    }
    if critical:
        pod_spec["priorityClassName"] = "critical"
    return _manifest({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "apps"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}},
    }, name)


def cluster() -> tuple[list[Manifest], PoolFile]:
    """A PriorityClass, a Namespace and WORKLOADS Deployments, one of them critical and one zone-spread (so the
    plan packs the pool again for a zone loss and for the critical pods)."""
    spread: dict[str, Any] = {"topologySpreadConstraints": [{
        "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "w1"}}}]}
    manifests = [
        _manifest({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                   "metadata": {"name": "critical", "labels": {constraints.CRITICAL_LABEL: "true"}},
                   "value": 1000}, "pc"),
        _manifest({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}, "ns"),
        deployment("w0", 2, critical=True),
        deployment("w1", 3, **spread),
        *(deployment(f"w{n}", 1 + n % 3) for n in range(2, WORKLOADS)),
    ]
    pool = Pool(name="web", instance_types=["m5.2xlarge"], capacity_type="on-demand", min_size=0, max_size=40,
                desired_size=0, labels={"mlplatform.example.com/pool": "web"}, file=FILE, line=1)
    return manifests, PoolFile("test", "us-east-1", {"web": pool}, FILE)


class Counter:
    def __init__(self) -> None:
        self.calls = 0


@pytest.fixture
def warm() -> tuple[list[Manifest], PoolFile, ClusterModel]:
    """The cluster with its model, planned once: the model's own caches are filled, so what is counted after
    this is the plan's work."""
    manifests, pool_file = cluster()
    model = ClusterModel(manifests, pool_file, CATALOG)
    plan.plan_cluster("test", manifests, pool_file, CATALOG, facts=ClusterFacts(), model=model)
    return manifests, pool_file, model


def test_a_plan_reads_each_workload_a_bounded_number_of_times(
    warm: tuple[list[Manifest], PoolFile, ClusterModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests, pool_file, model = warm
    refs, names, vectors, ports = Counter(), Counter(), Counter(), Counter()
    real_of, real_name, real_vector, real_ports = ObjectRef.of, PodDemand.name, plan._vector, constraints.host_ports

    def counted_of(cls: type[ObjectRef], obj: dict[str, Any]) -> ObjectRef:
        refs.calls += 1
        return real_of(obj)

    def counted_name(self: PodDemand) -> str:
        names.calls += 1
        return real_name.fget(self)  # type: ignore[attr-defined,no-any-return]

    def counted_vector(requests: dict[str, int], resources: list[str]) -> tuple[int, ...]:
        vectors.calls += 1
        return real_vector(requests, resources)

    def counted_ports(spec: Any) -> Any:
        ports.calls += 1
        return real_ports(spec)

    monkeypatch.setattr(ObjectRef, "of", classmethod(counted_of))
    monkeypatch.setattr(PodDemand, "name", property(counted_name))
    monkeypatch.setattr(plan, "_vector", counted_vector)
    monkeypatch.setattr(plan, "host_ports", counted_ports)
    result = plan.plan_cluster("test", manifests, pool_file, CATALOG, facts=ClusterFacts(), model=model)

    web = result.pools[0]
    assert len(web.workloads) == WORKLOADS and web.headroom is not None
    assert web.headroom.zone_loss.level is not None  # the pool was packed again: the memos were asked again
    assert web.headroom.node_loss.critical_level is not None
    # A name and a request vector per workload for every build of the pool, not per build...
    assert names.calls == WORKLOADS
    assert vectors.calls == WORKLOADS
    # ...no DaemonSet holds a host port, so no pod's ports are read to compare with them...
    assert ports.calls == 0
    # ...and one reference per workload (its namespace) and per PriorityClass or Namespace object, not one per
    # rendered object for each of them, nor for each Deployment's rollout.
    assert refs.calls <= 2 * WORKLOADS + 2


def test_priority_classes_build_a_reference_only_for_priority_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    manifests, _ = cluster()
    refs = Counter()
    real_of = ObjectRef.of

    def counted_of(cls: type[ObjectRef], obj: dict[str, Any]) -> ObjectRef:
        refs.calls += 1
        return real_of(obj)

    monkeypatch.setattr(ObjectRef, "of", classmethod(counted_of))
    # Another group's PriorityClass is not the scheduler's: read, and left out as before.
    other = _manifest({"apiVersion": "example.com/v1", "kind": "PriorityClass", "metadata": {"name": "x"},
                       "value": 5}, "x")
    classes = PriorityClasses.of([*manifests, other])
    assert classes.values["critical"] == 1000 and "x" not in classes.values
    assert classes.critical == frozenset({"critical", *constraints.SYSTEM_PRIORITIES})
    assert refs.calls == 2


class CountingList(list[list[PodDemand]]):
    def __init__(self, items: list[list[PodDemand]]) -> None:
        super().__init__(items)
        self.scans = 0

    def __iter__(self) -> Any:
        self.scans += 1
        return super().__iter__()


def test_a_level_finds_a_workloads_item_without_scanning_every_item_each_time(
    warm: tuple[list[Manifest], PoolFile, ClusterModel],
) -> None:
    manifests, pool_file, model = warm
    web = plan.plan_cluster("test", manifests, pool_file, CATALOG, facts=ClusterFacts(), model=model).pools[0]
    level = web.max_level
    assert level is not None
    expected = {id(w): i for i, ms in reversed(list(enumerate(level.members))) for w in ms}
    members = CountingList(list(level.members))
    fresh = Level(level.result, level.problem, members, level.solution)
    for w in web.workloads:
        assert fresh.item_of(w) == expected[id(w)]  # the first item holding it
    stranger = model.demand.pods[0]
    assert fresh.item_of(PodDemand(stranger.manifest, stranger.template, {}, 1, 1, "replicas")) is None
    assert members.scans == 1


def test_a_small_plan_does_not_import_numpy() -> None:
    """numpy's import costs more CPU than every rollout dry run of a check (cpack.VECTOR_MIN_BINS): a plan whose
    packings stay small, rollouts and failure scenarios included, runs without it. In a fresh interpreter,
    since another test of this process may have imported it."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_capacity_speed as t\n"
        "from mlplatform.capacity.plan import plan_cluster\n"
        "manifests, pool_file = t.cluster()\n"
        "result = plan_cluster('test', manifests, pool_file, t.CATALOG, facts=t.ClusterFacts())\n"
        "headroom = result.pools[0].headroom\n"
        "assert headroom is not None and headroom.rollouts and result.pools[0].at_max.nodes\n"
        "print('numpy' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
