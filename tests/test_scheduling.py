"""Placement simulation (taints, tolerations, node selection, requests, fit) against the Kubernetes rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlplatform.catalog import load_catalog
from mlplatform.model import Taint
from mlplatform.pools import load_pool_file
from mlplatform.scheduling import (
    match_expression,
    match_node_selection,
    node_labels,
    place,
    pod_requests,
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
