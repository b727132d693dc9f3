"""The capacity plan under the scheduler's hard constraints, on small clusters whose answers are worked out by
hand: anti-affinity, topology spread with minDomains, host ports, max pods, rollouts, node and zone loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlplatform.allocatable import node_allocatable
from mlplatform.capacity.facts import ClusterFacts
from mlplatform.capacity.fit import RULE_CONSTRAINT, RULE_HEADROOM, RULE_ROLLOUT, RULE_UNPLACED, plan_findings
from mlplatform.capacity.plan import ClusterPlan, PoolPlan, plan_cluster
from mlplatform.catalog import load_catalog
from mlplatform.config import Config
from mlplatform.context import ClusterContext
from mlplatform.model import Manifest, Pool, PoolFile, Provenance, Severity

CATALOG = load_catalog()
FILE = "terraform/environments/test/node-pools.yaml"
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
# m5.2xlarge: 8 vCPUs less kube-reserved (60 + 10 + 2 x 5 + 4 x 2.5 = 90 m) = 7,910 m allocatable.
M5_CPU = 7_910


def pool(name: str = "web", *, max_size: int = 10, zones: list[str] | None = None, min_size: int = 0,
         instance: str = "m5.2xlarge", capacity_type: str = "on-demand") -> Pool:
    extra: dict[str, Any] = {"zones": zones} if zones is not None else {}
    return Pool(name=name, instance_types=[instance], capacity_type=capacity_type, min_size=min_size,
                max_size=max_size, desired_size=min_size, labels={"mlplatform.example.com/pool": name},
                file=FILE, line=10, field_lines={"max_size": 14}, extra=extra)


def pool_file(*pools: Pool) -> PoolFile:
    return PoolFile("test", "us-east-1", {p.name: p for p in pools}, FILE)


def deployment(name: str, replicas: int, *, cpu: str = "100m", memory: str = "128Mi", pool_name: str = "web",
               labels: dict[str, str] | None = None, strategy: dict[str, Any] | None = None,
               namespace: str = "apps", **spec: Any) -> Manifest:
    labels = {"app": name, **(labels or {})}
    pod_spec: dict[str, Any] = {
        "nodeSelector": {"mlplatform.example.com/pool": pool_name},
        "containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
        **spec,
    }
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": labels}, "spec": pod_spec}},
    }
    if strategy is not None:
        obj["spec"]["strategy"] = strategy
    return Manifest("test", obj, Provenance(f"apps/{name}.yaml", 4))


def daemonset(name: str, *, cpu: str = "100m", **spec: Any) -> Manifest:
    pod_spec = {"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": cpu}}}], **spec}
    obj = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": "kube-system"},
           "spec": {"selector": {"matchLabels": {"a": name}},
                    "template": {"metadata": {"labels": {"a": name}}, "spec": pod_spec}}}
    return Manifest("test", obj, Provenance(f"infra/{name}.yaml", 1))


def anti_affinity(app: str, key: str = HOSTNAME) -> dict[str, Any]:
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}]}}


def spread(app: str, key: str, *, max_skew: int = 1, min_domains: int | None = None,
           when: str = "DoNotSchedule") -> list[dict[str, Any]]:
    entry: dict[str, Any] = {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
                             "labelSelector": {"matchLabels": {"app": app}}}
    if min_domains is not None:
        entry["minDomains"] = min_domains
    return [entry]


def plan(manifests: list[Manifest], *pools: Pool, facts: ClusterFacts | None = None) -> ClusterPlan:
    return plan_cluster("test", manifests, pool_file(*pools), CATALOG, facts=facts)


def the(p: ClusterPlan, name: str = "web") -> PoolPlan:
    return next(x for x in p.pools if x.pool.name == name)


def findings(p: ClusterPlan, *pools: Pool) -> list:
    ctx = ClusterContext(Path("."), Config(repo=Path(".")), "test", [], pool_file(*pools))
    return plan_findings(ctx, p)


def assert_no_shared_nodes(plan_pool: PoolPlan, names: set[str]) -> None:
    """No node of the max-demand packing holds two pods of the named workloads."""
    level = plan_pool.max_level
    assert level is not None
    items = {i for i, ms in enumerate(level.members) if any(m.name in names for m in ms)}
    for content in level.result.bins:
        assert sum(n for i, n in content.items() if i in items) <= 1, content


# ---------------------------------------------------------------- anti-affinity


@pytest.mark.parametrize("replicas", [1, 4, 7])
def test_required_hostname_anti_affinity_needs_a_node_per_replica(replicas: int) -> None:
    # 100m pods: by resources all replicas fit one node; anti-affinity on the hostname puts one on each.
    free = plan([deployment("api", replicas)], pool())
    assert the(free).at_max.nodes == 1
    bound = plan([deployment("api", replicas, affinity=anti_affinity("api"))], pool())
    web = the(bound)
    assert web.at_max.nodes >= replicas and web.at_max.lower_bound >= replicas
    assert web.at_max.nodes == replicas  # and no more: the replicas are tiny
    assert_no_shared_nodes(web, {"Deployment apps/api"})
    assert "selects its own pods: one pod per node" in web.binding or replicas == 1


def test_anti_affinity_against_another_workload_keeps_them_apart() -> None:
    # cache: 3 pods; web repels cache (not itself): web pods may share nodes with each other but not with cache.
    manifests = [deployment("cache", 3), deployment("web", 2, affinity=anti_affinity("cache"))]
    web = the(plan(manifests, pool()))
    level = web.max_level
    assert level is not None
    cache = next(i for i, ms in enumerate(level.members) if ms[0].name == "Deployment apps/cache")
    other = next(i for i, ms in enumerate(level.members) if ms[0].name == "Deployment apps/web")
    assert all(not (cache in b and other in b) for b in level.result.bins)
    assert web.at_max.nodes == 2  # cache together on one node, web together on another


def test_anti_affinity_in_another_namespace_does_not_apply() -> None:
    manifests = [deployment("cache", 3, namespace="other"), deployment("web", 2, affinity=anti_affinity("cache"))]
    assert the(plan(manifests, pool())).at_max.nodes == 1


def test_affinity_places_pods_only_beside_the_pods_they_need() -> None:
    # web (2 CPUs) needs a cache pod (1 CPU) on its node; cache repels itself: 3 nodes, one cache each.
    # Each node: cache 1,000 m + 3 x 2,000 m web = 7,000 <= 7,910 -> 9 web pods fit beside 3 caches.
    cache = deployment("cache", 3, cpu="1", affinity=anti_affinity("cache"))
    affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": HOSTNAME}]}}
    fits = plan([cache, deployment("web", 9, cpu="2", affinity=affinity)], pool())
    assert the(fits).at_max.nodes == 3 and not fits.unplaced
    # A tenth web pod has no node with a cache and room: it stays out, and the plan says why.
    short = plan([cache, deployment("web", 10, cpu="2", affinity=affinity)], pool())
    (entry,) = short.unplaced
    assert entry.constraint == "podAffinity" and entry.pods == {"min_demand": 1, "max_demand": 1}
    assert "required podAffinity[0] on kubernetes.io/hostname" in entry.reason


# ---------------------------------------------------------------- topology spread


def test_zone_spread_min_domains_3_on_a_pool_in_2_zones_is_unplaceable_with_the_reason() -> None:
    # Two zones < minDomains 3: the global minimum is 0, so each zone takes at most maxSkew = 1 pod.
    zones = ["us-east-1a", "us-east-1b"]
    spec = {"topologySpreadConstraints": spread("api", ZONE, min_domains=3)}
    p = plan([deployment("api", 3, **spec)], pool(zones=zones))
    (entry,) = p.unplaced
    assert entry.constraint == "topologySpreadConstraints" and entry.pool == "web"
    assert entry.pods == {"min_demand": 1, "max_demand": 1}
    assert "minDomains 3" in entry.reason and "2 zone(s)" in entry.reason
    assert not p.ok
    (finding,) = [f for f in findings(p, pool(zones=zones)) if f.rule == RULE_UNPLACED]
    assert finding.severity is Severity.ERROR and finding.file == "apps/api.yaml"
    assert "topologySpreadConstraints[0]" in finding.message
    # With three zones minDomains is met: the spread is even and everything fits.
    assert plan([deployment("api", 3, **spec)], pool(zones=[*zones, "us-east-1c"])).ok


def test_schedule_anyway_is_a_preference_not_a_constraint() -> None:
    spec = {"topologySpreadConstraints": spread("api", ZONE, min_domains=None, when="ScheduleAnyway")}
    p = plan([deployment("api", 5, **spec)], pool(zones=["us-east-1a"]))
    assert p.ok and the(p).at_max.nodes == 1
    assert any("ScheduleAnyway" in c for c in the(p).constraints.values() for c in c)


def test_even_zone_spread_puts_nodes_in_every_zone() -> None:
    # 4 tiny pods, maxSkew 1 over 3 zones: 2/1/1, so 3 nodes although one node would hold them all.
    spec = {"topologySpreadConstraints": spread("api", ZONE)}
    web = the(plan([deployment("api", 4, **spec)], pool()))
    assert web.at_max.nodes == 3 and web.at_max.lower_bound == 3
    assert web.max_level is not None and sorted(web.max_level.solution.zones) == sorted(ClusterFacts().zones)


def test_hostname_spread_with_another_pool_as_domain_caps_each_node() -> None:
    # No nodeSelector: the pods of `api` may run on both pools (taints are ignored by default), so the
    # nodes of pool `other` (min_size 1) are domains with 0 pods: each node takes at most maxSkew = 2.
    spec = {"topologySpreadConstraints": spread("api", HOSTNAME, max_skew=2)}
    manifest = deployment("api", 6, **spec)
    del manifest.obj["spec"]["template"]["spec"]["nodeSelector"]
    p = plan([manifest], pool(), pool("other", min_size=1))
    planned = next(x for x in p.pools if x.workloads)
    assert planned.at_max.nodes == 3
    # On its own pool only (nodeSelector), the skew is over its own nodes and one node holds all six.
    assert the(plan([deployment("api", 6, **spec)], pool(), pool("other", min_size=1))).at_max.nodes == 1


# ---------------------------------------------------------------- host ports and max pods


def test_pods_with_the_same_host_port_never_share_a_node() -> None:
    port = {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "hostPort": 8080}],
                            "resources": {"requests": {"cpu": "100m"}}}]}
    manifests = [deployment("a", 3, **port), deployment("b", 2, **port)]
    web = the(plan(manifests, pool()))
    assert web.at_max.nodes == 5 and web.at_max.lower_bound == 5
    assert_no_shared_nodes(web, {"Deployment apps/a", "Deployment apps/b"})
    # A different protocol on the same port number does not conflict: a and b may share nodes.
    udp = {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "hostPort": 8080,
                                                                 "protocol": "UDP"}],
                           "resources": {"requests": {"cpu": "100m"}}}]}
    assert the(plan([deployment("a", 3, **port), deployment("b", 2, **udp)], pool())).at_max.nodes == 3


def test_host_network_pods_take_their_container_ports_and_a_daemonset_port_blocks_the_pool() -> None:
    host = {"hostNetwork": True,
            "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 9100}],
                            "resources": {"requests": {"cpu": "100m"}}}]}
    assert the(plan([deployment("exporter", 3, **host)], pool())).at_max.nodes == 3
    p = plan([deployment("exporter", 3, **host), daemonset("node-exporter", **host)], pool())
    (entry,) = p.unplaced
    assert entry.constraint == "hostPort" and "DaemonSet kube-system/node-exporter" in entry.reason


@pytest.mark.parametrize(
    ("facts", "per_node", "nodes"),
    [
        # VPC CNI without prefix delegation: eni-max-pods.txt gives 58 for m5.2xlarge; the DaemonSet takes one.
        (ClusterFacts(prefix_delegation=False, managed_node_groups=True), 57, 3),
        # Prefix delegation: 4 x (14 x 16) + 2 = 898, capped at 110 (8 vCPUs <= 30).
        (ClusterFacts(prefix_delegation=True, managed_node_groups=True), 109, 2),
    ],
)
def test_max_pods_bounds_a_node(facts: ClusterFacts, per_node: int, nodes: int) -> None:
    # 150 pods of 10m: 1,500 m of CPU fits one node, the pod limit does not: ceil(150 / per_node) nodes.
    p = plan([deployment("tiny", 150, cpu="10m", memory="16Mi"), daemonset("agent", cpu="10m")], pool(), facts=facts)
    web = the(p)
    assert web.node_capacity["pods"] == per_node
    assert web.at_max.nodes == nodes == -(-150 // per_node) and web.at_max.lower_bound == nodes
    assert max(sum(c.values()) for c in web.at_max.bins) <= per_node


def test_catalog_max_pods_agree_with_their_formulas() -> None:
    # eni-max-pods.txt is ENIs x (IPv4 per ENI - 1) + 2; the calculator with prefix delegation multiplies the
    # slots by 16 and caps at 110 (<= 30 vCPUs) or 250.
    for name, it in CATALOG.instance_types.items():
        row = CATALOG.max_pods[name]
        assert row.eni == it.enis * (it.ipv4_per_eni - 1) + 2
        assert row.prefix_delegation == min(it.enis * (it.ipv4_per_eni - 1) * 16 + 2, 250 if it.vcpu > 30 else 110)


def test_a_managed_node_group_takes_the_smallest_pod_limit_of_its_instance_types() -> None:
    mixed = pool(instance="m5.4xlarge")
    mixed.instance_types = ["m5.4xlarge", "m5.2xlarge"]
    facts = ClusterFacts(prefix_delegation=False, managed_node_groups=True)
    web = the(plan([deployment("tiny", 1)], mixed, facts=facts))
    assert web.pod_limit[0] == 58  # m5.4xlarge alone: 234


# ---------------------------------------------------------------- rollouts


def test_a_rollout_at_max_demand_that_does_not_fit_is_reported() -> None:
    # 4 CPU pods: one per m5.2xlarge (7,910 m). 2 replicas fill max_size 2; maxSurge 1 needs a third node.
    stall = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    web_pool = pool(max_size=2)
    p = plan([deployment("api", 2, cpu="4", strategy=stall)], web_pool)
    web = the(p)
    assert p.ok and web.at_max.nodes == 2
    assert web.headroom is not None
    (check,) = web.headroom.rollouts
    assert (check.surge, check.unavailable, check.nodes_needed, check.fits, check.stalls) == (1, 0, 3, False, True)
    (finding,) = [f for f in findings(p, web_pool) if f.rule == RULE_ROLLOUT]
    assert finding.severity is Severity.ERROR and finding.file == "apps/api.yaml" and "stalls" in finding.message
    rollout = web.to_json()["headroom"]["rollout"]
    assert rollout["fits"] is False and rollout["stalls"] == ["Deployment apps/api"]
    # maxUnavailable 1: an old pod stops first, so the rollout goes on, one pod at a time (a warning).
    slow = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
    p = plan([deployment("api", 2, cpu="4", strategy=slow)], web_pool)
    (finding,) = [f for f in findings(p, web_pool) if f.rule == RULE_ROLLOUT]
    assert finding.severity is Severity.WARNING
    # Default strategy, 25%: 8 replicas surge 2, unavailable 2; Recreate surges nothing.
    p = plan([deployment("api", 8, strategy={"type": "Recreate"})], pool())
    assert the(p).headroom.rollouts == []  # type: ignore[union-attr]
    (check,) = the(plan([deployment("api", 8)], pool())).headroom.rollouts  # type: ignore[union-attr]
    assert (check.surge, check.unavailable, check.fits) == (2, 2, True)


# ---------------------------------------------------------------- node and zone loss


def critical_api(replicas: int) -> Manifest:
    # 3 CPUs each: two per m5.2xlarge node (6,000 <= 7,910 m; three would be 9,000). Spread evenly over zones.
    return deployment("api", replicas, cpu="3", labels={"mlplatform.example.com/critical": "true"},
                      topologySpreadConstraints=spread("api", ZONE))


def test_node_and_zone_loss_headroom_worked_out_by_hand() -> None:
    # max demand: 6 pods over 3 zones, maxSkew 1 -> 2 per zone -> one node per zone: 3 nodes.
    # Node loss, max_size 4: 3 nodes remain, 3 are needed -> fits, 0 spare.
    # Zone loss: the group spreads 4 nodes as 2/1/1, losing a zone loses ceil(4/3) = 2 -> 2 remain.
    #   6 pods over the 2 zones left -> 3 per zone -> 2 nodes per zone (3 x 3 CPUs > 7,910 m) -> 4 needed.
    web_pool = pool(max_size=4)
    p = plan([critical_api(6)], web_pool)
    web = the(p)
    assert (web.at_max.nodes, web.at_max.lower_bound) == (3, 3)
    h = web.to_json()["headroom"]
    assert (h["node_loss"]["nodes_available"], h["node_loss"]["nodes_needed"], h["node_loss"]["fits"]) == (3, 3, True)
    assert h["node_loss"]["spare_nodes"] == 0 and h["node_loss"]["critical"]["survive"] is True
    zone = h["zone_loss"]
    assert (zone["nodes_available"], zone["nodes_needed"], zone["fits"]) == (2, 4, False)
    assert zone["lost_zone"] == ClusterFacts().zones[0] and len(zone["zones_left"]) == 2
    assert zone["critical"] == {"workloads": ["Deployment apps/api"], "nodes_needed": 4, "survive": False}
    (finding,) = [f for f in findings(p, web_pool) if f.rule == RULE_HEADROOM]
    assert finding.severity is Severity.ERROR and finding.file == "apps/api.yaml"
    assert "loss of zone" in finding.message and "4 node(s), 2 remain" in finding.message
    # max_size 6: the zone takes 2 of them (2/2/2), 4 remain, 4 are needed: survives, no finding.
    roomy = pool(max_size=6)
    p = plan([critical_api(6)], roomy)
    zone = the(p).to_json()["headroom"]["zone_loss"]
    assert (zone["nodes_available"], zone["nodes_needed"], zone["fits"]) == (4, 4, True)
    assert not [f for f in findings(p, roomy) if f.rule == RULE_HEADROOM]
    # max_size 3 (N, not N+1): losing a node leaves 2 of the 3 needed.
    tight = pool(max_size=3)
    node = the(plan([critical_api(6)], tight)).to_json()["headroom"]["node_loss"]
    assert (node["nodes_available"], node["nodes_needed"], node["fits"]) == (2, 3, False)


def test_critical_pods_survive_by_preempting_lower_priority_ones() -> None:
    # The critical api needs 1 node (2 pods x 3 CPUs); batch (1 CPU x 14) needs two more by CPU. Losing a node
    # of max_size 3 leaves 2 < 3 for everything, but the api alone fits: it preempts batch and survives.
    high = Manifest("test", {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                             "metadata": {"name": "serving", "labels": {"mlplatform.example.com/critical": "true"}},
                             "value": 1000}, Provenance("infra/pc.yaml", 1))
    manifests = [high, deployment("api", 2, cpu="3", priorityClassName="serving"), deployment("batch", 14, cpu="1")]
    tight = pool(max_size=3)
    p = plan(manifests, tight)
    web = the(p)
    node = web.to_json()["headroom"]["node_loss"]
    assert node["fits"] is False and node["critical"]["survive"] is True and node["critical"]["nodes_needed"] == 1
    assert not [f for f in findings(p, tight) if f.rule == RULE_HEADROOM]
    assert [w["priority"] for w in web.to_json()["workloads"]] == [1000, 0]
    # Marked critical by its label but of the same priority as batch, it cannot preempt: it does not survive.
    same = [deployment("api", 2, cpu="3", labels={"mlplatform.example.com/critical": "true"}),
            deployment("batch", 14, cpu="1")]
    p = plan(same, tight)
    assert the(p).to_json()["headroom"]["node_loss"]["critical"]["survive"] is False
    lost = [f.message for f in findings(p, tight) if f.rule == RULE_HEADROOM]
    assert len(lost) == 2 and "loss of one node" in lost[0] and "loss of zone" in lost[1]


def test_a_spot_pool_reports_an_interruption_and_a_one_zone_pool_cannot_lose_its_zone() -> None:
    spot = pool(capacity_type="spot", zones=["us-east-1a"], max_size=3)
    h = the(plan([deployment("train", 2)], spot)).to_json()["headroom"]
    assert h["node_loss"]["cause"] == "spot interruption of one node" and h["node_loss"]["fits"] is True
    assert h["zone_loss"]["nodes_available"] == 0 and h["zone_loss"]["fits"] is False
    assert h["zone_loss"]["zones_left"] == []


# ---------------------------------------------------------------- the bound and the exact model


def test_constraints_enter_the_exact_model_and_the_bound() -> None:
    # Per node 7,910 m: hostPort pods (3 CPUs, one per node) and 5 CPU pods: FFD by size puts the 5 CPU pods
    # first; the optimum pairs one of each per node: 4 + 4 pods -> 4 nodes, which the bound proves.
    port = {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "hostPort": 80}],
                            "resources": {"requests": {"cpu": "3"}}}]}
    manifests = [deployment("edge", 4, **port), deployment("big", 4, cpu="4500m")]
    web = the(plan(manifests, pool()))
    assert web.at_max.nodes == 4 and web.at_max.lower_bound == 4 and web.at_max.proven_optimal
    assert web.max_level is not None and web.max_level.constrained


def test_plan_json_keeps_its_contract_and_adds_headroom_and_constraint_fields() -> None:
    web_pool = pool(zones=["us-east-1a", "us-east-1b"])
    p = plan([deployment("api", 3, topologySpreadConstraints=spread("api", ZONE, min_domains=3))], web_pool)
    body = p.to_json()
    for key in ("cluster", "region", "fits", "overrides", "pools", "unplaced", "total", "not_modelled",
                "warnings", "prices"):
        assert key in body
    web = body["pools"][0]
    for key in ("pool", "nodes_needed", "lower_bound", "gap", "method", "proven_optimal", "nodes_billed",
                "gpu_units", "node_allocatable", "daemonset_overhead_per_node", "workloads", "cost_usd_per_hour"):
        assert key in web
    assert set(web["headroom"]) == {"rollout", "node_loss", "zone_loss"}
    assert web["zones"] == ["us-east-1a", "us-east-1b"] and web["zones_source"] == "pool file"
    assert web["workloads"][0]["constraints"]
    (entry,) = body["unplaced"]
    assert {"object", "file", "line", "workload", "reason"} <= set(entry)
    assert entry["constraint"] == "topologySpreadConstraints" and entry["pods_unplaced"]["max_demand"] == 1


def test_a_constraint_that_needs_more_nodes_than_max_size_is_a_finding_on_the_workload() -> None:
    small = pool(max_size=4)
    p = plan([deployment("api", 12, affinity=anti_affinity("api"))], small)
    rules = {f.rule: f for f in findings(p, small)}
    assert rules[RULE_CONSTRAINT].file == "apps/api.yaml"
    assert "podAntiAffinity" in rules[RULE_CONSTRAINT].message and "at least 12 nodes" in rules[RULE_CONSTRAINT].message
    assert "driven by Deployment apps/api" in rules["capacity/max-size"].message


def test_daemonset_overhead_counts_every_daemonset_that_lands_on_the_pool() -> None:
    ds = [daemonset("a", cpu="200m"), daemonset("b", cpu="300m"), daemonset("gpu-only", cpu="1",
          nodeSelector={"nvidia.com/gpu.present": "true"})]
    web = the(plan([deployment("api", 1), *ds], pool()))
    assert web.daemonsets == ["DaemonSet kube-system/a", "DaemonSet kube-system/b"]
    assert web.daemonset_overhead == {"cpu": 500, "pods": 2}
    assert web.node_capacity["cpu"] == node_allocatable(pool(), CATALOG)["cpu"] - 500 == M5_CPU - 500


@pytest.mark.parametrize(
    "spec",
    [
        {"affinity": "x"},
        {"affinity": {"podAntiAffinity": []}},
        {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}},
        {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": "app=x", "topologyKey": 7, "namespaces": "apps", "matchLabelKeys": "abc"}]}}},
        {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchExpressions": [{"key": "app", "operator": "Gt", "values": ["x"]}]},
             "topologyKey": HOSTNAME, "namespaceSelector": "all"}]}}},
        {"topologySpreadConstraints": {"maxSkew": 1}},
        {"topologySpreadConstraints": [{"maxSkew": "1", "topologyKey": None, "minDomains": -3}]},
        {"topologySpreadConstraints": [{"maxSkew": 0, "topologyKey": "no/such-label", "labelSelector": {}}]},
        {"hostNetwork": True, "containers": [{"name": "c", "ports": "80"}]},
        {"containers": [{"name": "c", "ports": [{"hostPort": "80"}, {"hostPort": True}, 7]}]},
        {"priorityClassName": ["x"]},
    ],
)
def test_malformed_constraints_never_crash_the_plan(spec: dict[str, Any]) -> None:
    # Schema validation reports these; the plan reads what it can and never raises.
    p = plan([deployment("odd", 3, **spec)], pool())
    body = p.to_json()
    placed = body["pools"][0]["nodes_needed"]["max_demand"]
    left_out = sum(u["pods_unplaced"]["max_demand"] for u in body["unplaced"])
    # Either the pods are packed, or the ones left out name the constraint that keeps them out.
    assert (placed >= 1 and not left_out) or (left_out and all(u["constraint"] for u in body["unplaced"]))


def test_what_if_zones_changes_the_spread_verdict() -> None:
    from mlplatform.capacity.whatif import apply_overrides, parse_override
    from mlplatform.errors import ToolError

    manifests = [deployment("api", 3, topologySpreadConstraints=spread("api", ZONE, min_domains=3))]
    three = pool_file(pool())
    assert plan_cluster("test", manifests, three, CATALOG).ok  # three assumed zones: minDomains met
    two = apply_overrides(three, [parse_override("web.zones=[use1-az1, use1-az2]")], CATALOG)
    assert two.pools["web"].extra["zones"] == ["use1-az1", "use1-az2"] and "zones" not in three.pools["web"].extra
    assert not plan_cluster("test", manifests, two, CATALOG).ok
    with pytest.raises(ToolError, match="non-empty list of zone ids"):
        apply_overrides(three, [parse_override("web.zones=use1-az1")], CATALOG)
    # A zone name would be planned as a zone of its own beside the cluster's zone ids.
    with pytest.raises(ToolError, match="us-east-1a is a zone name; use its zone id"):
        apply_overrides(three, [parse_override("web.zones=[use1-az1, us-east-1a]")], CATALOG)
