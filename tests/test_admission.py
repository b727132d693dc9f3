"""The ValidatingAdmissionPolicies, evaluated offline with cel-python against the rules' good/bad fixtures.

Each policy (infrastructure/configs/base/admission-policies/) names the rule it mirrors; every pod template of
that rule's fixtures becomes the Pod the API server would admit (metadata from the template, the namespace
of the object, an owner reference of the controller kind, quantities as strings), then the binding's
namespaceSelector, the matchConditions, the variables and the validations are evaluated in the API server's
order. Every CEL expression of every policy is compiled and evaluated by cel-python; the namespaceSelector is
matched in Python (it is a label selector, not CEL). cel-python has no Kubernetes CEL libraries (quantity(),
the strings/lists extensions, authorizer), so the policies use only standard CEL: has(), all(), exists(),
in, matches(), startsWith(), int(), map and list literals.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import celpy
import pytest

from mlplatform.catalog import load_catalog
from mlplatform.pools import load_pool_file
from mlplatform.workloads import pod_templates
from mlplatform.yamlio import load_documents, plain

sys.path.insert(0, str(Path(__file__).resolve().parent / "rules"))
from rulekit import RULE_FIXTURES, load_fixture  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
POLICY_DIR = REPO / "infrastructure/configs/base/admission-policies"
# The owner a controller gives the pods of a template (what the not-a-daemonset-pod condition reads).
OWNER_KIND = {
    "Deployment": "ReplicaSet",
    "StatefulSet": "StatefulSet",
    "DaemonSet": "DaemonSet",
    "Job": "Job",
    "CronJob": "Job",
    "ReplicaSet": "ReplicaSet",
}


def _policies() -> tuple[dict[str, dict], dict[str, dict]]:
    policies, bindings = {}, {}
    for path in sorted(POLICY_DIR.glob("*.yaml")):
        for doc in load_documents(path):
            obj = plain(doc.data)
            if not isinstance(obj, dict):
                continue
            if obj.get("kind") == "ValidatingAdmissionPolicy":
                policies[obj["metadata"]["name"]] = obj
            elif obj.get("kind") == "ValidatingAdmissionPolicyBinding":
                bindings[obj["spec"]["policyName"]] = obj
    return policies, bindings


POLICIES, BINDINGS = _policies()
ENV = celpy.Environment()
_PROGRAMS: dict[str, Any] = {}
EVALUATED: set[str] = set()


def cel(expression: str, activation: dict[str, Any]) -> Any:
    program = _PROGRAMS.get(expression)
    if program is None:
        program = _PROGRAMS[expression] = ENV.program(ENV.compile(expression))
    EVALUATED.add(expression)
    return program.evaluate(activation)


def _stringify_quantities(spec: dict) -> None:
    """The API server serialises resource quantities as strings; fixtures may write them as numbers."""
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or []:
            for table in ("requests", "limits"):
                values = (container.get("resources") or {}).get(table)
                if isinstance(values, dict):
                    for key, value in values.items():
                        values[key] = str(value)


def pods_of(manifest) -> list[dict]:
    pods = []
    for tpl in pod_templates(manifest):
        meta = dict(plain(tpl.pod_metadata))
        meta.setdefault("name", f"{manifest.ref.name}-pod")
        meta["namespace"] = manifest.ref.namespace or "default"
        owner = OWNER_KIND.get(tpl.kind, tpl.kind) if tpl.role is None else manifest.ref.kind
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": owner, "name": manifest.ref.name, "uid": "u"}]
        spec = plain(tpl.pod_spec)
        _stringify_quantities(spec)
        pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
    return pods


def _namespace_selected(binding: dict, namespace: str) -> bool:
    selector = (binding["spec"].get("matchResources") or {}).get("namespaceSelector") or {}
    labels = {"kubernetes.io/metadata.name": namespace}
    for expr in selector.get("matchExpressions") or []:
        value = labels.get(expr["key"])
        if expr["operator"] == "NotIn" and value in expr["values"]:
            return False
        if expr["operator"] == "In" and value not in expr["values"]:
            return False
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def admit(policy_name: str, pod: dict) -> tuple[bool, str]:
    """(allowed, why) for one pod under one policy and its binding, in the API server's order."""
    policy, binding = POLICIES[policy_name], BINDINGS[policy_name]
    if not _namespace_selected(binding, pod["metadata"]["namespace"]):
        return True, "namespace not bound"
    activation: dict[str, Any] = {"object": celpy.json_to_cel(pod)}
    for condition in policy["spec"].get("matchConditions") or []:
        if not bool(cel(condition["expression"], activation)):
            return True, f"condition {condition['name']} false"
    variables: dict[str, Any] = {}
    for variable in policy["spec"].get("variables") or []:
        activation["variables"] = celpy.json_to_cel({}) if not variables else _cel_map(variables)
        variables[variable["name"]] = cel(variable["expression"], activation)
    activation["variables"] = _cel_map(variables)
    for validation in policy["spec"]["validations"]:
        if not bool(cel(validation["expression"], activation)):
            return False, validation["message"]
    return True, "valid"


def _cel_map(values: dict[str, Any]) -> Any:
    return celpy.celtypes.MapType({celpy.celtypes.StringType(k): v for k, v in values.items()})


def _rule(policy_name: str) -> str:
    return POLICIES[policy_name]["metadata"]["annotations"]["mlplatform.example.com/rule"]


@pytest.mark.parametrize("policy_name", sorted(POLICIES))
def test_policy_admits_good_and_denies_bad_fixtures(policy_name):
    rule = _rule(policy_name)
    for manifest in load_fixture(RULE_FIXTURES / rule / "good.yaml"):
        for pod in pods_of(manifest):
            allowed, why = admit(policy_name, pod)
            assert allowed, f"{manifest.ref}: {why}"
    bad = [m for m in load_fixture(RULE_FIXTURES / rule / "bad.yaml") if m.ref.name.startswith("bad-")]
    assert bad
    for manifest in bad:
        verdicts = [admit(policy_name, pod) for pod in pods_of(manifest)]
        assert any(not allowed for allowed, _ in verdicts), f"{manifest.ref} admitted: {verdicts}"


def test_every_policy_has_a_binding_and_a_rule():
    from mlplatform.rules import RULES_BY_ID

    assert set(POLICIES) == set(BINDINGS)
    assert len(POLICIES) >= 5
    for name in POLICIES:
        # The annotation value is the rule's name (its id after the category), as its exemption key is.
        assert f"policy/{_rule(name)}" in RULES_BY_ID
        assert BINDINGS[name]["spec"]["validationActions"] == ["Deny"]


def test_exemption_with_reason_admits_and_without_reason_does_not():
    manifest = next(m for m in load_fixture(RULE_FIXTURES / "timeslice-multiple-gpus" / "bad.yaml"))
    pod = pods_of(manifest)[0]
    key = "mlplatform.example.com/exempt-timeslice-multiple-gpus"
    pod["metadata"].setdefault("annotations", {})[key] = ""
    assert not admit("mlplatform-timeslice-multiple-gpus", pod)[0]
    pod["metadata"]["annotations"][key] = "benchmarking the device plugin's admission error"
    assert admit("mlplatform-timeslice-multiple-gpus", pod)[0]


def test_platform_namespaces_are_not_bound():
    manifest = next(m for m in load_fixture(RULE_FIXTURES / "timeslice-multiple-gpus" / "bad.yaml"))
    pod = pods_of(manifest)[0]
    pod["metadata"]["namespace"] = "gpu-operator"
    assert admit("mlplatform-timeslice-multiple-gpus", pod) == (True, "namespace not bound")


def test_mig_profiles_and_memory_cap_match_the_pool_files():
    """The constants in the CEL come from the pool files; a change there must change the policies too."""
    profiles, shares, mb_shares = set(), [], []
    catalog = load_catalog()
    for cluster in ("production", "staging"):
        pool_file = load_pool_file(REPO / "terraform/environments" / cluster / "node-pools.yaml", REPO)
        for pool in pool_file.pools.values():
            if pool.gpu and pool.gpu.sharing == "mig":
                profiles |= {p for p, n in (pool.gpu.mig_layout or {}).items() if n}
            if pool.gpu and pool.gpu.sharing == "time-slicing":
                shares.append(1 / pool.gpu.replicas)
                model = catalog.gpu_model_of_instance(pool.planning_instance_type)
                mb_shares.append(model.memory_mib // pool.gpu.replicas)
    mig_text = (POLICY_DIR / "mig-profile-not-offered.yaml").read_text()
    listed = set(mig_text.split("k in [", 1)[1].split("]", 1)[0].replace("'", "").replace(" ", "").split(","))
    assert listed == {f"nvidia.com/mig-{p}" for p in profiles}
    variables = {v["name"]: v["expression"] for v in POLICIES["mlplatform-gpu-memory-uncapped"]["spec"]["variables"]}
    pattern = cel(variables["fraction"], {})
    activation = {"p": celpy.celtypes.StringType(str(pattern))}
    largest = max(shares)
    assert bool(cel(f"'{largest}'.matches('^' + p + '$')", activation))
    assert not bool(cel(f"'{largest + 0.01:.2f}'.matches('^' + p + '$')", activation))
    # The MB bound of the TensorFlow launcher is the largest per-replica share of GPU memory of any pool.
    assert int(cel(variables["maxShareMB"], {})) == max(mb_shares)


def test_every_cel_expression_was_evaluated():
    """Runs last in this module: every expression of every policy went through cel-python at least once."""
    expressions = set()
    for policy in POLICIES.values():
        spec = policy["spec"]
        expressions |= {c["expression"] for c in spec.get("matchConditions") or []}
        expressions |= {v["expression"] for v in spec.get("variables") or []}
        expressions |= {v["expression"] for v in spec["validations"]}
    for name in POLICIES:  # make the test independent of order: evaluate each policy on its fixtures
        for manifest in load_fixture(RULE_FIXTURES / _rule(name) / "bad.yaml"):
            for pod in pods_of(manifest):
                admit(name, pod)
    missing = expressions - EVALUATED
    assert not missing, missing
