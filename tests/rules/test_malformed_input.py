"""The rules never crash on malformed objects (schema validation reports those); hypothesis-generated junk."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rulekit import REPO, make_context

from mlplatform.model import Manifest, Provenance
from mlplatform.rules import load_policy, run_rules_with

POLICY = load_policy(REPO, "production")
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=True),
    st.sampled_from(
        [
            "",
            "1",
            "2",
            "0.9",
            "gpu",
            "Exists",
            "Equal",
            "NoSchedule",
            "In",
            "Gt",
            "nvidia.com/gpu",
            "nvidia.com/mig-1g.10gb",
            "--gpu-memory-utilization=2",
            "checkpoints",
            "Always",
            "production-inference",
            "1Gi",
            "abc",
        ]
    ),
)
keys = st.sampled_from(
    [
        "key",
        "operator",
        "value",
        "effect",
        "name",
        "resources",
        "limits",
        "requests",
        "nvidia.com/gpu",
        "cpu",
        "memory",
        "args",
        "env",
        "volumes",
        "tolerations",
        "nodeSelector",
        "affinity",
        "nodeAffinity",
        "matchExpressions",
        "values",
        "requiredDuringSchedulingIgnoredDuringExecution",
        "nodeSelectorTerms",
        "containers",
        "initContainers",
        "restartPolicy",
        "priorityClassName",
        "topologySpreadConstraints",
        "mlplatform.example.com/workload-type",
        "labels",
        "annotations",
        "metadata",
        "spec",
    ]
)
junk = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(keys, children, max_size=4)),
    max_leaves=25,
)


def _deployment(spec, labels) -> Manifest:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "junk", "namespace": "x"},
        "spec": {"replicas": 1, "template": {"metadata": {"labels": labels}, "spec": spec}},
    }
    return Manifest("production", obj, Provenance("apps/junk.yaml", 1))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(keys, junk, max_size=6),
    st.one_of(
        junk,
        st.fixed_dictionaries(
            {"mlplatform.example.com/workload-type": st.sampled_from(["production-inference", "training-spot", "x"])}
        ),
    ),
)
def test_rules_survive_junk_pod_specs(spec, labels):
    run_rules_with(make_context([_deployment(spec, labels)]), POLICY)


@settings(max_examples=60, deadline=None)
@given(junk, junk, junk, junk)
def test_rules_survive_junk_supporting_objects(values, data, pdb_spec, scaler_spec):
    release = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "gpu-operator", "namespace": "gpu-operator"},
        "spec": {"chart": {"spec": {"chart": "gpu-operator"}}, "values": values},
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "device-plugin-config", "namespace": "gpu-operator"},
        "data": data,
    }
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "p", "namespace": "x"},
        "spec": pdb_spec,
    }
    scaler = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "s", "namespace": "x"},
        "spec": scaler_spec,
    }
    manifests = [
        Manifest("production", o, Provenance("infrastructure/x.yaml", 1)) for o in (release, config, pdb, scaler)
    ]
    workload = _deployment(
        {"containers": [{"name": "a", "resources": {"limits": {"nvidia.com/mig-1g.10gb": 1}}}]},
        {"mlplatform.example.com/workload-type": "production-inference", "app": "a"},
    )
    run_rules_with(make_context([*manifests, workload]), POLICY)


def test_a_template_the_rules_cannot_read_is_reported_not_ignored():
    manifest = _deployment({"containers": [{"name": "a", "resources": {"limits": ["nvidia.com/gpu"]}}]}, {})
    findings = [f for f in run_rules_with(make_context([manifest]), POLICY) if f.object is not None]
    assert [(f.rule, f.severity.value) for f in findings] == [("policy/template-unreadable", "warning")]
    assert "template.spec.containers[0].resources.limits" in findings[0].message


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, junk, max_size=6))
def test_the_unrolled_shape_check_agrees_with_the_generic_one(spec):
    from mlplatform.shape import POD_SPEC, misfit, pod_spec_misfit

    assert (pod_spec_misfit(spec) is None) == (misfit(spec, POD_SPEC, "template.spec") is None)


@settings(max_examples=200, deadline=None)
@given(st.one_of(junk, st.dictionaries(keys, junk, max_size=4)))
def test_the_unrolled_metadata_check_agrees_with_the_generic_one(meta):
    from mlplatform.shape import METADATA, metadata_misfit, misfit

    assert (metadata_misfit(meta, "m") is None) == (misfit(meta, METADATA, "m") is None)
