"""Placement simulation (taints, tolerations, node selection, requests, fit) against the Kubernetes rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlplatform.catalog import load_catalog
from mlplatform.model import GpuSharing, Pool, Taint
from mlplatform.pools import load_pool_file
from mlplatform.quantity import QuantityError
from mlplatform.scheduling import (
    PoolIndex,
    amount,
    match_expression,
    match_node_selection,
    match_term,
    node_labels,
    place,
    pod_requests,
    required_node_affinity,
    resource_shortfall,
    tolerates,
    untolerated,
)

REPO = Path(__file__).resolve().parent.parent
CATALOG = load_catalog()


@pytest.fixture(scope="module")
def pools():
    return load_pool_file(REPO / "terraform/environments/production/node-pools.yaml", REPO).pools


# ---------------------------------------------------------------- reference readings of the Kubernetes rules
# Written from the API documentation (core/v1 Toleration, NodeSelectorRequirement), independently of the code
# under test: a table of cases per field rather than the same if-chain.


def ref_tolerates(tol: dict, taint: Taint) -> bool:
    # "If the key is empty, operator must be Exists; this combination means to match all values and all keys."
    # "Empty effect means match all taint effects." "Exists is equivalent to wildcard for value."
    op = tol.get("operator") or "Equal"
    conditions = [
        not tol.get("effect") or tol["effect"] == taint.effect,
        not tol.get("key") or tol["key"] == taint.key,
        op == "Exists" or (op == "Equal" and (tol.get("value") or "") == (taint.value or "")),
    ]
    return all(conditions)


def ref_requirement(expr: dict, labels: dict) -> bool:
    key, op, values = expr["key"], expr["operator"], expr.get("values") or []
    value = labels.get(key)
    table = {
        "In": lambda: value is not None and value in set(values),
        "NotIn": lambda: value is None or value not in set(values),
        "Exists": lambda: value is not None,
        "DoesNotExist": lambda: value is None,
        # "the values array must have a single element, which will be interpreted as an integer"
        "Gt": lambda: (
            value is not None
            and len(values) == 1
            and value.lstrip("-").isdigit()
            and values[0].lstrip("-").isdigit()
            and int(value) > int(values[0])
        ),
        "Lt": lambda: (
            value is not None
            and len(values) == 1
            and value.lstrip("-").isdigit()
            and values[0].lstrip("-").isdigit()
            and int(value) < int(values[0])
        ),
    }
    return table[op]()


def ref_selects(terms: list, labels: dict) -> bool:
    # "The terms are ORed"; "The requirements of them are ANDed"; a null or empty term matches no objects.
    return any(
        bool(t.get("matchExpressions"))
        and not t.get("matchFields")
        and all(ref_requirement(e, labels) for e in t["matchExpressions"])
        for t in terms
    )


# ---------------------------------------------------------------- strategies

KEYS = ["", "gpu", "spot", "nvidia.com/gpu"]
VALUES = ["", "true", "mig", "h100"]
EFFECTS = ["", "NoSchedule", "PreferNoSchedule", "NoExecute"]

taints = st.builds(
    Taint,
    key=st.sampled_from(KEYS[1:]),
    value=st.sampled_from([None, *VALUES[1:]]),
    effect=st.sampled_from(EFFECTS[1:]),
)


@st.composite
def tolerations(draw):
    tol = {}
    for field, choices in (
        ("key", KEYS),
        ("operator", ["", "Equal", "Exists"]),
        ("value", VALUES),
        ("effect", EFFECTS),
    ):
        choice = draw(st.sampled_from([None, *choices]))
        if choice is not None:
            tol[field] = choice
    return tol


LABEL_KEYS = ["a", "b", "n"]
LABEL_VALUES = ["x", "y", "1", "7", "-3", "10"]
labelsets = st.dictionaries(st.sampled_from(LABEL_KEYS), st.sampled_from(LABEL_VALUES), max_size=3)


@st.composite
def requirements(draw):
    op = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]))
    expr = {"key": draw(st.sampled_from(LABEL_KEYS)), "operator": op}
    if op in ("In", "NotIn"):
        expr["values"] = draw(st.lists(st.sampled_from(LABEL_VALUES), min_size=1, max_size=3))
    elif op in ("Gt", "Lt"):
        expr["values"] = draw(st.lists(st.sampled_from(LABEL_VALUES), min_size=1, max_size=2))
    return expr


terms = st.lists(st.fixed_dictionaries({"matchExpressions": st.lists(requirements(), max_size=3)}), max_size=3)


# ---------------------------------------------------------------- property tests


@settings(max_examples=400, deadline=None)
@given(tolerations(), taints)
def test_toleration_matches_reference(tol, taint):
    assert tolerates(tol, taint) == ref_tolerates(tol, taint)


@settings(max_examples=200, deadline=None)
@given(st.lists(tolerations(), max_size=3), st.lists(taints, max_size=3))
def test_untolerated_are_the_blocking_unmatched_taints(tols, node_taints):
    expected = [
        t for t in node_taints if t.effect != "PreferNoSchedule" and not any(ref_tolerates(tol, t) for tol in tols)
    ]
    assert untolerated(tols, node_taints) == expected


@settings(max_examples=400, deadline=None)
@given(requirements(), labelsets)
def test_requirement_matches_reference(expr, labels):
    assert match_expression(expr, labels) == ref_requirement(expr, labels)


@settings(max_examples=300, deadline=None)
@given(terms, labelsets)
def test_node_affinity_matches_reference(node_terms, labels):
    spec = {
        "affinity": {
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": node_terms}}
        }
    }
    assert (match_node_selection(spec, labels) is None) == ref_selects(node_terms, labels)


# ---------------------------------------------------------------- examples


def test_empty_key_exists_tolerates_everything():
    for taint in (Taint("gpu", "mig", "NoSchedule"), Taint("spot", None, "NoExecute")):
        assert tolerates({"operator": "Exists"}, taint)


def test_gpu_exists_tolerates_all_gpu_values_but_not_spot():
    tol = {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert all(tolerates(tol, Taint("gpu", v, "NoSchedule")) for v in ("true", "mig", "h100"))
    assert not tolerates(tol, Taint("spot", "true", "NoSchedule"))
    assert not tolerates(tol, Taint("gpu", "true", "NoExecute"))


def test_prefer_no_schedule_does_not_block():
    assert untolerated([], [Taint("gpu", "true", "PreferNoSchedule")]) == []


def test_match_fields_never_match_a_pool():
    spec = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["x"]}]}
                    ]
                }
            }
        }
    }
    assert match_node_selection(spec, {"a": "x"}) is not None


def test_gt_needs_integers():
    assert match_expression({"key": "n", "operator": "Gt", "values": ["3"]}, {"n": "10"})
    assert not match_expression({"key": "n", "operator": "Gt", "values": ["3"]}, {"n": "1_0"})
    assert not match_expression({"key": "n", "operator": "Gt", "values": ["3", "4"]}, {"n": "10"})


def test_requests_sidecars_init_and_overhead():
    spec = {
        "initContainers": [
            {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
            {"name": "big-init", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}},
        ],
        "containers": [
            {
                "name": "a",
                "resources": {"requests": {"cpu": "500m"}, "limits": {"memory": "2Gi", "cpu": "1"}},
            },
            {"name": "b", "resources": {"limits": {"nvidia.com/gpu": "1"}}},
        ],
        "overhead": {"cpu": "50m"},
    }
    reqs = pod_requests(spec)
    # regular: 500m + sidecar 100m = 600m; init peak: sidecar 100m + 2000m = 2100m; + overhead 50m
    assert reqs["cpu"] == 2150
    assert reqs["memory"] == 2 * 2**30  # limit defaults the request; above the 1Gi init container
    assert reqs["nvidia.com/gpu"] == 1
    assert reqs["pods"] == 1


def test_node_labels_of_gpu_pools(pools):
    labels = node_labels(pools["a100-timeslice"], CATALOG, "us-east-1")
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-40GB-SHARED"
    assert labels["nvidia.com/gpu.replicas"] == "4"
    assert labels["eks.amazonaws.com/capacityType"] == "ON_DEMAND"
    assert labels["topology.kubernetes.io/region"] == "us-east-1"
    assert node_labels(pools["a100-timeslice-spot"], CATALOG)["eks.amazonaws.com/capacityType"] == "SPOT"
    mig = node_labels(pools["a100-mig"], CATALOG)
    assert mig["nvidia.com/mig.strategy"] == "mixed"
    assert "nvidia.com/gpu.present" not in node_labels(pools["cpu"], CATALOG)


def test_place_mig_inference_lands_only_on_mig_pool(pools):
    spec = {
        "containers": [
            {"name": "m", "resources": {"limits": {"nvidia.com/mig-1g.10gb": 1, "cpu": "2", "memory": "8Gi"}}}
        ],
        "tolerations": [{"key": "gpu", "operator": "Equal", "value": "mig", "effect": "NoSchedule"}],
        "nodeSelector": {"mlplatform.example.com/pool": "a100-mig"},
    }
    placement = place(spec, pools.values(), CATALOG)
    assert placement.fits == ["a100-mig"]
    assert "does not tolerate taint gpu=true:NoSchedule" in placement.reasons["a100-timeslice"]


def test_place_missing_mig_profile_fits_nowhere(pools):
    spec = {
        "containers": [{"name": "m", "resources": {"limits": {"nvidia.com/mig-4g.40gb": 1}}}],
        "tolerations": [{"operator": "Exists"}],
    }
    placement = place(spec, pools.values(), CATALOG)
    assert placement.fits == []
    assert placement.reasons["a100-mig"] == "no node of the pool offers nvidia.com/mig-4g.40gb"


def test_place_cpu_too_large_and_daemonset_overhead(pools):
    spec = {"containers": [{"name": "c", "resources": {"requests": {"cpu": "15", "memory": "1Gi"}}}]}
    assert place(spec, [pools["cpu"]], CATALOG).fits == ["cpu"]  # m5.4xlarge: 15890m allocatable
    taken = {"cpu": {"cpu": 1000}}
    placement = place(spec, [pools["cpu"]], CATALOG, daemonset_overhead=taken)
    assert placement.fits == []
    assert placement.reasons["cpu"].startswith("cpu: requests 15000m")


def test_place_time_sliced_gpu_count(pools):
    spec = {
        "containers": [{"name": "t", "resources": {"limits": {"nvidia.com/gpu": 33}}}],
        "tolerations": [{"key": "gpu", "operator": "Equal", "value": "true"}],
    }
    assert place(spec, pools.values(), CATALOG).fits == []  # 8 GPUs x 4 replicas = 32 per node
    spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = 32
    assert place(spec, pools.values(), CATALOG).fits == ["a100-timeslice"]


# ---------------------------------------------------------------- issue 19: answers no property test pinned down
# The verdict cache of PoolIndex, node-selection corner cases, quantities, node labels and the exact shortfall
# messages. Expected values are worked out from the Kubernetes rules (core/v1 NodeSelectorTerm: "A null or
# empty node selector term matches no objects"; labels.Requirement Gt/Lt parse both sides with
# strconv.ParseInt(s, 10, 64); Quantity.Value() rounds up to a whole unit) and the catalog's instance facts.
GIB = 2**30
MIB = 2**20
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"


def pool(name: str, instance_type: str, *, gpu: GpuSharing | None = None, taints=(), labels=None, spot=False):
    return Pool(
        name=name,
        instance_types=[instance_type],
        capacity_type="spot" if spot else "on-demand",
        min_size=0,
        max_size=1,
        desired_size=0,
        labels={"pool": name, **(labels or {})},
        taints=list(taints),
        gpu=gpu,
    )


# m5.4xlarge: 16 vCPU -> 16000m - (60 + 10 + 2x5 + 12x2.5)m kube-reserved = 15890m; 234 pods;
# 64 GiB - (11 MiB x 234 + 255 MiB) - 100 MiB eviction = 62607 MiB.
CPU = pool("cpu", "m5.4xlarge")
# p4d.24xlarge: 8x A100 40 GB, time-sliced 4 ways -> 32 nvidia.com/gpu.
TS = pool("ts", "p4d.24xlarge", gpu=GpuSharing("time-slicing", replicas=4), taints=[Taint("gpu", "true", "NoSchedule")])
# p4de.24xlarge: 8x A100 80 GB, each split 3g.40gb + 2g.20gb + 2x 1g.10gb.
MIG = pool(
    "mig",
    "p4de.24xlarge",
    gpu=GpuSharing("mig", mig_layout={"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}),
    taints=[Taint("gpu", "mig", "NoSchedule")],
)
POOLS = [CPU, TS, MIG]
TOLERATE_ALL = [{"operator": "Exists"}]


def affinity(*terms) -> dict:
    return {"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": list(terms)}}}


def expr(key: str, operator: str, *values) -> dict:
    found = {"key": key, "operator": operator}
    if values:
        found["values"] = list(values)
    return found


# ---------------------------------------------------------------- the verdict cache of PoolIndex
# A PoolIndex computes the taint and node-selection verdict once per distinct set of constraints. Each pair
# below differs in one part of those constraints only; the second pod must get its own answer, not the first's.

CACHE_PAIRS = {
    "toleration value": (
        {"tolerations": [{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]},
        ["cpu", "ts"],
        {"tolerations": [{"key": "gpu", "operator": "Equal", "value": "mig", "effect": "NoSchedule"}]},
        ["cpu", "mig"],
    ),
    "toleration effect": (
        {"tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]},
        ["cpu", "ts", "mig"],
        {"tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoExecute"}]},
        ["cpu"],
    ),
    "toleration key": (
        {"tolerations": [{"key": "gpu", "operator": "Exists"}]},
        ["cpu", "ts", "mig"],
        {"tolerations": [{"key": "gpus", "operator": "Exists"}]},
        ["cpu"],
    ),
    "toleration operator": (
        {"tolerations": [{"key": "gpu", "operator": "Exists", "value": "mig"}]},
        ["cpu", "ts", "mig"],
        {"tolerations": [{"key": "gpu", "operator": "Equal", "value": "mig"}]},
        ["cpu", "mig"],
    ),
    "misspelt nodeSelector": (
        {"tolerations": TOLERATE_ALL, "nodeSelector": {"pool": "ts"}},
        ["ts"],
        {"tolerations": TOLERATE_ALL, "nodeSelector": {"pool": "tss"}},
        [],
    ),
    "nodeSelector key": (
        {"tolerations": TOLERATE_ALL, "nodeSelector": {"pool": "mig"}},
        ["mig"],
        {"tolerations": TOLERATE_ALL, "nodeSelector": {"pools": "mig"}},
        [],
    ),
    "matchExpressions values": (
        {"tolerations": TOLERATE_ALL, "affinity": affinity({"matchExpressions": [expr("pool", "In", "ts")]})},
        ["ts"],
        {"tolerations": TOLERATE_ALL, "affinity": affinity({"matchExpressions": [expr("pool", "In", "mig")]})},
        ["mig"],
    ),
    "matchExpressions operator": (
        {"tolerations": TOLERATE_ALL, "affinity": affinity({"matchExpressions": [expr("pool", "In", "ts")]})},
        ["ts"],
        {"tolerations": TOLERATE_ALL, "affinity": affinity({"matchExpressions": [expr("pool", "NotIn", "ts")]})},
        ["cpu", "mig"],
    ),
    "matchExpressions key": (
        {"tolerations": TOLERATE_ALL, "affinity": affinity({"matchExpressions": [expr("pool", "Exists")]})},
        ["cpu", "ts", "mig"],
        {"tolerations": TOLERATE_ALL, "affinity": affinity({"matchExpressions": [expr("pol", "Exists")]})},
        [],
    ),
    "matchFields next to matchExpressions": (
        {"tolerations": TOLERATE_ALL, "affinity": affinity({"matchExpressions": [expr("pool", "In", "ts")]})},
        ["ts"],
        {
            "tolerations": TOLERATE_ALL,
            "affinity": affinity(
                {
                    "matchExpressions": [expr("pool", "In", "ts")],
                    "matchFields": [expr("metadata.name", "In", "node-1")],
                }
            ),
        },
        [],
    ),
    # The API server rejects these; the simulation must still not borrow the unconstrained pod's verdict.
    "empty nodeSelectorTerms": (
        {"tolerations": TOLERATE_ALL},
        ["cpu", "ts", "mig"],
        {"tolerations": TOLERATE_ALL, "affinity": affinity()},
        [],
    ),
    "required affinity without nodeSelectorTerms": (
        {"tolerations": TOLERATE_ALL},
        ["cpu", "ts", "mig"],
        {"tolerations": TOLERATE_ALL, "affinity": {"nodeAffinity": {REQUIRED: {}}}},
        [],
    ),
    "null term": (
        {"tolerations": TOLERATE_ALL},
        ["cpu", "ts", "mig"],
        {"tolerations": TOLERATE_ALL, "affinity": affinity(None)},
        [],
    ),
    # YAML without quotes gives 1 and true; Python counts 1 == True, the label values "1" and "true" differ.
    "selector value 1 then true": (
        {"tolerations": TOLERATE_ALL, "nodeSelector": {"nvidia.com/gpu.replicas": 1}},
        ["mig"],
        {"tolerations": TOLERATE_ALL, "nodeSelector": {"nvidia.com/gpu.replicas": True}},
        [],
    ),
    "selector value 8 then 8.0": (
        {"tolerations": TOLERATE_ALL, "nodeSelector": {"nvidia.com/gpu.count": 8}},
        ["ts", "mig"],
        {"tolerations": TOLERATE_ALL, "nodeSelector": {"nvidia.com/gpu.count": 8.0}},
        [],
    ),
}


@pytest.mark.parametrize("name", sorted(CACHE_PAIRS))
def test_each_part_of_the_constraints_has_its_own_verdict(name: str) -> None:
    first, first_fits, second, second_fits = CACHE_PAIRS[name]
    index = PoolIndex(POOLS, CATALOG)
    assert index.place(first).fits == first_fits
    assert index.place(second).fits == second_fits
    # and in the other order, on a fresh index: the answer never depends on what was placed before
    index = PoolIndex(POOLS, CATALOG)
    assert index.place(second).fits == second_fits
    assert index.place(first).fits == first_fits


def test_misspelt_selector_says_what_it_looked_for() -> None:
    placement = place({"tolerations": TOLERATE_ALL, "nodeSelector": {"pool": "tss"}}, POOLS, CATALOG)
    assert placement.reasons == {
        "cpu": "nodeSelector pool=tss does not match the node label (cpu)",
        "ts": "nodeSelector pool=tss does not match the node label (ts)",
        "mig": "nodeSelector pool=tss does not match the node label (mig)",
    }
    absent = place({"nodeSelector": {"nvidia.com/gpu.present": "true"}}, [CPU], CATALOG)
    assert absent.reasons == {"cpu": "nodeSelector nvidia.com/gpu.present=true does not match the node label (absent)"}


def test_malformed_constraints_are_compared_by_text() -> None:
    # Unhashable or oddly shaped constraints fall back to a textual key; the verdicts stay per pod.
    index = PoolIndex(POOLS, CATALOG)
    odd = {"tolerations": [{"key": "gpu", "operator": "Exists", "value": ["x"]}]}  # a list is unhashable
    assert index.place(odd).fits == ["cpu", "ts", "mig"]
    assert index.place({"tolerations": [{"key": "gpu", "operator": "Exists", "value": ["y"]}]}).fits == [
        "cpu",
        "ts",
        "mig",
    ]
    assert index.place({"tolerations": "gpu"}).fits == ["cpu"]  # not a list: tolerates nothing
    assert index.place({"tolerations": [None, {"key": "gpu", "value": "mig"}]}).fits == ["cpu", "mig"]
    assert index.place({"nodeSelector": ["pool", "cpu"]}).fits == ["cpu"]  # not a mapping: selects nothing out


# ---------------------------------------------------------------- node selection corner cases


def test_match_fields_beside_match_expressions_never_match() -> None:
    labels = {"pool": "ts"}
    exprs = [expr("pool", "In", "ts")]
    assert match_term({"matchExpressions": exprs}, labels)
    assert not match_term({"matchExpressions": exprs, "matchFields": [expr("metadata.name", "In", "n")]}, labels)
    # an empty matchFields list is no constraint
    assert match_term({"matchExpressions": exprs, "matchFields": []}, labels)
    # terms are ORed: a term with matchFields does not stop another term from matching
    spec = {"affinity": affinity({"matchFields": [expr("metadata.name", "In", "n")]}, {"matchExpressions": exprs})}
    assert match_node_selection(spec, labels) is None


def test_null_and_empty_terms_match_nothing() -> None:
    labels = {"pool": "ts"}
    assert match_node_selection({"affinity": affinity(None)}, labels) == (
        "required node affinity matches no node of the pool"
    )
    assert match_node_selection({"affinity": affinity({})}, labels) is not None
    assert match_node_selection({"affinity": affinity({"matchExpressions": []})}, labels) is not None
    assert (
        match_node_selection({"affinity": affinity(None, {"matchExpressions": [expr("pool", "Exists")]})}, labels)
        is None
    )
    assert not match_term({"matchExpressions": {"key": "pool", "operator": "Exists"}}, labels)  # not a list
    assert not match_term({"matchExpressions": [None]}, labels)
    assert not match_term("pool", labels)


def test_required_node_affinity_shapes() -> None:
    assert required_node_affinity({}) is None
    assert required_node_affinity({"affinity": []}) is None
    assert required_node_affinity({"affinity": {"nodeAffinity": "x"}}) is None
    assert required_node_affinity({"affinity": {"nodeAffinity": {REQUIRED: None}}}) is None
    assert required_node_affinity({"affinity": {"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": "x"}}}}) == []
    terms = [{"matchExpressions": [expr("a", "Exists")]}]
    assert required_node_affinity({"affinity": affinity(*terms)}) == terms
    # preferred affinity alone is no constraint
    spec = {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}}
    assert match_node_selection(spec, {}) is None


def test_unquoted_boolean_selector_values_are_the_label_text() -> None:
    gpu_labels = node_labels(TS, CATALOG)
    assert match_node_selection({"nodeSelector": {"nvidia.com/gpu.present": True}}, gpu_labels) is None
    assert match_node_selection({"nodeSelector": {"nvidia.com/gpu.present": False}}, gpu_labels) == (
        "nodeSelector nvidia.com/gpu.present=false does not match the node label (true)"
    )
    assert match_expression(expr("nvidia.com/mig.capable", "In", True), gpu_labels)
    assert not match_expression(expr("nvidia.com/mig.capable", "In", False), gpu_labels)
    assert match_expression(expr("nvidia.com/gpu.count", "In", 8), gpu_labels)  # YAML int 8, label "8"


INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


@pytest.mark.parametrize(
    ("operator", "value", "label", "matches"),
    [
        ("Gt", str(INT64_MAX - 1), str(INT64_MAX), True),
        ("Gt", str(INT64_MAX), str(INT64_MAX + 1), False),  # the label is no int64: ParseInt fails
        ("Lt", str(INT64_MAX + 1), "5", False),  # the value is no int64
        ("Lt", "0", str(INT64_MIN), True),
        ("Lt", "0", str(INT64_MIN - 1), False),
        ("Gt", str(INT64_MIN), "0", True),
        ("Gt", str(INT64_MIN - 1), "0", False),
        ("Gt", "+3", "4", True),  # ParseInt accepts a sign
        ("Lt", "-3", "-4", True),
        ("Gt", "3", "3", False),  # strictly greater
        ("Lt", "3", "3", False),
        ("Gt", "3", "03", False),  # leading zeros are decimal: 3 > 3 is false
        ("Gt", "2", "03", True),
        ("Gt", "3", " 4", False),  # no spaces
        ("Gt", "3", "4.0", False),
        ("Gt", "0x1", "4", False),
    ],
)
def test_gt_lt_parse_int64_like_go(operator: str, value: str, label: str, matches: bool) -> None:
    assert match_expression(expr("n", operator, value), {"n": label}) is matches


def test_requirement_operators_need_list_values() -> None:
    labels = {"a": "x"}
    assert not match_expression({"key": "a", "operator": "In", "values": "x"}, labels)  # a string is no list
    assert match_expression({"key": "a", "operator": "NotIn", "values": "x"}, labels)
    assert match_expression({"key": "b", "operator": "NotIn", "values": ["x"]}, labels)  # absent: not in
    assert not match_expression({"key": "a", "operator": "In"}, labels)
    assert not match_expression({"key": "a", "operator": "Gt"}, {"a": "5"})
    assert not match_expression({"key": "a", "operator": "Gt", "values": ["1"]}, {})
    assert not match_expression({"key": "a", "operator": "Matches", "values": ["x"]}, labels)
    assert not match_expression({"key": "a", "operator": "exists"}, labels)  # operators are case-sensitive


def test_untolerated_ignores_tolerations_that_are_not_mappings() -> None:
    taint = Taint("gpu", "true", "NoSchedule")
    assert untolerated([None, "gpu"], [taint]) == [taint]
    assert untolerated([None, {"operator": "Exists"}], [taint]) == []
    assert untolerated([], [Taint("gpu", "true", "NoExecute")]) == [Taint("gpu", "true", "NoExecute")]


# ---------------------------------------------------------------- quantities and requests


@pytest.mark.parametrize(
    ("resource", "value", "expected"),
    [
        ("cpu", "0.5", 500),
        ("cpu", "1500u", 2),  # 1.5 millicores round up to 2
        ("cpu", 2, 2000),
        ("memory", "1500m", 2),  # memory in milli units: 1.5 bytes round up (Quantity.Value())
        ("memory", "1Gi", GIB),
        ("memory", "1G", 10**9),
        ("ephemeral-storage", "2Gi", 2 * GIB),
        ("hugepages-2Mi", "4Mi", 4 * MIB),
        ("nvidia.com/gpu", "2", 2),
        ("nvidia.com/gpu", "1k", 1000),
        ("pods", 3, 3),
    ],
)
def test_amount_units(resource: str, value, expected: int) -> None:
    assert amount(resource, value) == expected


@pytest.mark.parametrize(
    ("resource", "value"),
    [("nvidia.com/gpu", "0.5"), ("nvidia.com/mig-1g.10gb", "1500m"), ("cpu", ["1"]), ("memory", {"a": 1})],
)
def test_amount_rejects_what_kubernetes_rejects(resource: str, value) -> None:
    # Extended resources must be whole numbers (the API server rejects "0.5"); a list is no quantity.
    with pytest.raises(QuantityError):
        amount(resource, value)


def test_fractional_gpu_and_malformed_quantities_are_left_out_of_requests() -> None:
    # The API server rejects the pod, and schema validation reports the value: placement ignores it.
    spec = {
        "containers": [
            {"name": "a", "resources": {"limits": {"nvidia.com/gpu": "0.5", "cpu": "1", "memory": "1500m"}}},
            {"name": "b", "resources": {"requests": {"cpu": "bogus", "memory": "1Mi"}}},
            {"name": "c", "resources": "none"},
            "not a container",
        ],
        "overhead": {"cpu": "x", "memory": "1Mi"},
    }
    assert pod_requests(spec) == {"cpu": 1000, "memory": 2 + MIB + MIB, "pods": 1}


def test_sidecar_counts_only_for_init_containers_after_it() -> None:
    # KEP-753: an init container runs beside the sidecars started before it, not those after it.
    big_init = {"name": "init", "resources": {"requests": {"cpu": "3"}}}
    sidecar = {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}}
    main = {"name": "main", "resources": {"requests": {"cpu": "1"}}}
    assert pod_requests({"initContainers": [sidecar, big_init], "containers": [main]})["cpu"] == 3500
    assert pod_requests({"initContainers": [big_init, sidecar], "containers": [main]})["cpu"] == 3000
    assert pod_requests({"initContainers": [None, sidecar], "containers": [main]})["cpu"] == 1500
    # two regular init containers run one after the other: the larger one counts, not their sum
    small_init = {"name": "small", "resources": {"requests": {"cpu": "2", "memory": "3Gi"}}}
    requests = pod_requests({"initContainers": [small_init, big_init], "containers": [main]})
    assert requests == {"cpu": 3000, "memory": 3 * GIB, "pods": 1}


def test_zero_requests_are_dropped_but_pods_stays() -> None:
    spec = {"containers": [{"name": "a", "resources": {"requests": {"cpu": "0", "example.com/x": 0}}}]}
    assert pod_requests(spec) == {"pods": 1}
    assert pod_requests({}) == {"pods": 1}


# ---------------------------------------------------------------- node labels


OPERANDS = {
    f"nvidia.com/gpu.deploy.{o}": "true"
    for o in (
        "driver",
        "container-toolkit",
        "device-plugin",
        "gpu-feature-discovery",
        "dcgm",
        "dcgm-exporter",
        "node-status-exporter",
        "operator-validator",
    )
}


def test_node_labels_of_a_time_sliced_a100_pool() -> None:
    assert node_labels(TS, CATALOG, "eu-west-1") == {
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": "p4d.24xlarge",
        "eks.amazonaws.com/nodegroup": "ts",
        "eks.amazonaws.com/capacityType": "ON_DEMAND",
        "topology.kubernetes.io/region": "eu-west-1",
        "nvidia.com/gpu.present": "true",
        "feature.node.kubernetes.io/pci-10de.present": "true",
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB-SHARED",  # GFD marks a time-sliced GPU -SHARED
        "nvidia.com/gpu.count": "8",
        "nvidia.com/gpu.replicas": "4",
        "nvidia.com/gpu.memory": "40960",
        "nvidia.com/mig.strategy": "none",
        "nvidia.com/gpu.sharing-strategy": "time-slicing",
        "nvidia.com/mig.capable": "true",  # an A100 can do MIG even when it is time-sliced
        **OPERANDS,
        "nvidia.com/gpu.deploy.mig-manager": "true",
        "pool": "ts",
    }


def test_node_labels_of_a_mig_pool() -> None:
    labels = node_labels(MIG, CATALOG)
    assert "topology.kubernetes.io/region" not in labels
    assert {k: labels[k] for k in labels if k.startswith("nvidia.com/") and ".deploy." not in k} == {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
        "nvidia.com/gpu.count": "8",
        "nvidia.com/gpu.replicas": "1",
        "nvidia.com/gpu.memory": "81920",
        "nvidia.com/mig.strategy": "mixed",
        "nvidia.com/gpu.sharing-strategy": "none",
        "nvidia.com/mig.capable": "true",
    }


def test_node_labels_of_a_whole_gpu_pool_without_mig() -> None:
    g5 = pool("g5", "g5.xlarge", gpu=GpuSharing("none", replicas=4), spot=True, labels={"kubernetes.io/arch": "arm64"})
    labels = node_labels(g5, CATALOG)
    assert labels["eks.amazonaws.com/capacityType"] == "SPOT"
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-A10G"
    assert labels["nvidia.com/gpu.count"] == "1"
    assert labels["nvidia.com/gpu.replicas"] == "1"  # replicas mean nothing without time-slicing
    assert labels["nvidia.com/gpu.sharing-strategy"] == "none"
    assert labels["nvidia.com/mig.capable"] == "false"
    assert "nvidia.com/gpu.deploy.mig-manager" not in labels
    assert labels["kubernetes.io/arch"] == "arm64"  # the pool's own labels win
    no_sharing = pool("g5b", "g5.xlarge")  # a GPU instance with no gpu block: whole GPUs
    assert node_labels(no_sharing, CATALOG)["nvidia.com/gpu.sharing-strategy"] == "none"
    assert node_labels(no_sharing, CATALOG)["nvidia.com/gpu.product"] == "NVIDIA-A10G"


def test_node_labels_of_time_slicing_without_replicas_and_of_a_cpu_pool() -> None:
    ts1 = pool("t", "p4d.24xlarge", gpu=GpuSharing("time-slicing"))
    assert node_labels(ts1, CATALOG)["nvidia.com/gpu.replicas"] == "1"
    cpu = pool("c", "m5.4xlarge", labels={"flag": True})
    assert node_labels(cpu, CATALOG) == {
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": "m5.4xlarge",
        "eks.amazonaws.com/nodegroup": "c",
        "eks.amazonaws.com/capacityType": "ON_DEMAND",
        "pool": "c",
        "flag": "true",
    }


# ---------------------------------------------------------------- fit and shortfall messages


def cpu_pod(**requests) -> dict:
    return {"containers": [{"name": "c", "resources": {"requests": requests}}]}


def test_shortfall_messages_name_the_resource_and_both_amounts() -> None:
    overhead = {"cpu": {"cpu": 1000}}
    assert place(cpu_pod(cpu="15"), [CPU], CATALOG, overhead).reasons == {
        "cpu": "cpu: requests 15000m, a node has 14890m allocatable"
    }
    # 62607 MiB = 61.14 GiB, shown with one decimal
    assert place(cpu_pod(memory="100Gi"), [CPU], CATALOG).reasons == {
        "cpu": "memory: requests 100.0Gi, a node has 61.1Gi allocatable"
    }
    gpu_pod = {
        "containers": [{"name": "g", "resources": {"limits": {"nvidia.com/gpu": 33}}}],
        "tolerations": TOLERATE_ALL,
    }
    assert place(gpu_pod, [TS], CATALOG).reasons == {"ts": "nvidia.com/gpu: requests 33, a node has 32 allocatable"}
    assert place(gpu_pod, [CPU], CATALOG).reasons == {"cpu": "no node of the pool offers nvidia.com/gpu"}
    # DaemonSets that take every pod slot leave none: the resource is offered by no node
    assert place(cpu_pod(cpu="1"), [CPU], CATALOG, {"cpu": {"pods": 234}}).reasons == {
        "cpu": "no node of the pool offers pods"
    }
    unknown = pool("x", "x9.mega")
    assert place(cpu_pod(cpu="1"), [unknown], CATALOG).reasons == {
        "x": "the pool's instance type is not in the catalog"
    }


def test_exact_fit_fits_and_one_more_does_not() -> None:
    assert place(cpu_pod(cpu="15890m"), [CPU], CATALOG).fits == ["cpu"]
    assert place(cpu_pod(cpu="15891m"), [CPU], CATALOG).fits == []
    assert place(cpu_pod(memory=f"{62607}Mi"), [CPU], CATALOG).fits == ["cpu"]
    assert place(cpu_pod(memory=f"{62607 * MIB + 1}"), [CPU], CATALOG).fits == []


def test_resource_shortfall_skips_unchecked_and_empty_requests() -> None:
    free = {"cpu": 1000, "pods": 10}
    assert resource_shortfall({"ephemeral-storage": 10**15, "cpu": 1000}, free) is None
    assert resource_shortfall({"example.com/x": 0, "cpu": -5}, free) is None
    assert resource_shortfall({"example.com/x": 1}, free) == "no node of the pool offers example.com/x"
    assert resource_shortfall({"example.com/x": 2}, {"example.com/x": 1}) == (
        "example.com/x: requests 2, a node has 1 allocatable"
    )
    assert resource_shortfall({"pods": 1}, {}) == "the pool's instance type is not in the catalog"


def test_reasons_keep_pool_file_order_and_requests_are_reported() -> None:
    spec = {
        "containers": [{"name": "g", "resources": {"limits": {"nvidia.com/gpu": 1}}}],
        "tolerations": [{"key": "gpu", "operator": "Equal", "value": "true"}],
    }
    placement = place(spec, POOLS, CATALOG)
    assert placement.fits == ["ts"]
    assert placement.selectable == ["cpu", "ts"]
    assert placement.requests == {"nvidia.com/gpu": 1, "pods": 1}
    assert list(placement.reasons.items()) == [
        ("cpu", "no node of the pool offers nvidia.com/gpu"),
        ("mig", "does not tolerate taint gpu=mig:NoSchedule"),
    ]
    # explicit requests replace the pod's own
    assert PoolIndex(POOLS, CATALOG).place(spec, {"nvidia.com/gpu": 40}).fits == []


def test_untolerated_taints_are_all_named() -> None:
    spot = pool("spot", "p4d.24xlarge", taints=[Taint("gpu", "true", "NoSchedule"), Taint("spot", None, "NoExecute")])
    assert place({}, [spot], CATALOG).reasons == {
        "spot": "does not tolerate taint gpu=true:NoSchedule, spot=:NoExecute"
    }


def test_daemonset_overhead_applies_to_its_own_pool_and_known_resources() -> None:
    overhead = {"ts": {"cpu": 95_000, "example.com/x": 5}, "cpu": {"nvidia.com/gpu": 1}}
    spec = cpu_pod(cpu="1")
    spec["tolerations"] = TOLERATE_ALL
    placement = place(spec, POOLS, CATALOG, overhead)
    # p4d: 96000m - 310m reserved - 95000m of DaemonSets = 690m left
    assert placement.fits == ["cpu", "mig"]
    assert placement.reasons == {"ts": "cpu: requests 1000m, a node has 690m allocatable"}


def test_region_label_is_selectable() -> None:
    spec = {"nodeSelector": {"topology.kubernetes.io/region": "us-east-1"}}
    assert place(spec, [CPU], CATALOG, region="us-east-1").fits == ["cpu"]
    assert place(spec, [CPU], CATALOG).fits == []
