"""Rule katib-metrics-collector: good and bad fixtures (tests/rules/fixtures/katib-metrics-collector/)."""

from __future__ import annotations

import copy

from rulekit import fixture_dir, load_fixture, run_rule

from mlplatform.model import Manifest, Provenance

RULE = "policy/katib-metrics-collector"


def _by_name(findings) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in findings:
        found.setdefault(f.object.name, []).append(f.message)
    return found


def test_good_and_bad(good_and_bad):
    good_and_bad(RULE)


def test_each_fault_is_named(good_and_bad):
    found = _by_name(good_and_bad(RULE))
    (label,) = found["bad-no-injection-label"]
    assert "lacks the label katib.kubeflow.org/metrics-collector-injection: enabled" in label
    assert "KATIB_TRIAL_NAME is never set" in label
    (push,) = found["bad-push-without-namespace-file"]
    assert "/var/run/secrets/kubernetes.io/serviceaccount/namespace" in push and "no RBAC" in push
    assert found["bad-push-service-account-without-token"] == [
        push.replace("bad-push-without-namespace-file", "bad-push-service-account-without-token")
    ]
    (shell,) = found["bad-stdout-shell-path"]
    assert "starts with /bin/sh -c" in shell and "command: [sh, -c]" in shell
    (exec_,) = found["bad-stdout-exec"]
    assert "exec" in exec_ and "completion marker" in exec_
    (spaced,) = found["bad-stdout-spaced-argument"]
    assert "'--run-name=lr sweep'" in spaced and "(StdOut collector)" in spaced  # StdOut is Katib's default
    (file_,) = found["bad-file-path-never-written"]
    assert "reads /var/log/katib/metrics.log" in file_
    (primary,) = found["bad-primary-container-missing"]
    assert "primaryContainerName 'training-container' names no container" in primary
    (egress,) = found["bad-egress-to-db-manager-denied"]
    assert "default-deny-all" in egress and "allow-kubeflow-https" in egress
    assert "katib-db-manager.kubeflow:6789" in egress


def _good() -> list[Manifest]:
    return load_fixture(fixture_dir(RULE) / "good.yaml")


def _extra(obj: dict) -> Manifest:
    return Manifest("production", obj, Provenance("tests/extra.yaml", 1))


def test_the_db_manager_side_of_the_network_counts_too():
    """A policy in kubeflow that isolates the DB manager's ingress must admit the trial namespace on 6789."""
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "db-manager-ingress", "namespace": "kubeflow"},
        "spec": {
            "podSelector": {"matchLabels": {"katib.kubeflow.org/component": "db-manager"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "ml"}}}]}],
        },
    }
    findings = run_rule(RULE, [*_good(), _extra(deny)])
    experiments = {"push-downward-api", "push-with-token", "stdout-default", "file-path-passed"}
    assert {f.object.name for f in findings} == experiments
    assert all("isolate katib-db-manager for ingress" in f.message for f in findings)
    allow = copy.deepcopy(deny)
    allow["spec"]["ingress"] = [
        {
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "hpo"}}}],
            "ports": [{"port": "api"}],
        }
    ]
    assert run_rule(RULE, [*_good(), _extra(allow)]) == []


def test_an_exemption_with_a_reason_silences_the_experiment():
    manifests = load_fixture(fixture_dir(RULE) / "bad.yaml")
    target = next(m for m in manifests if m.ref.name == "bad-stdout-exec")
    target.obj["metadata"]["annotations"] = {
        "mlplatform.example.com/exempt-katib-metrics-collector": "the image's entrypoint writes the marker itself"
    }
    assert "bad-stdout-exec" not in {f.object.name for f in run_rule(RULE, manifests)}
