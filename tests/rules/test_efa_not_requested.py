"""Rule efa-not-requested: good and bad fixtures (tests/rules/fixtures/efa-not-requested/, with EFA pools)."""

from __future__ import annotations

import copy

from rulekit import RULE_FIXTURES, fixture_dir, fixture_pool_file, load_fixture, make_context, run_rule

from mlplatform.model import Severity
from mlplatform.rules import load_policy
from mlplatform.rules._base import build_context
from mlplatform.rules.efa_not_requested import efa_pools

RULE = "policy/efa-not-requested"
POOLS = fixture_pool_file(RULE)


def _bad():
    return load_fixture(fixture_dir(RULE) / "bad.yaml")


def _by_name(findings) -> dict[str, list]:
    found: dict[str, list] = {}
    for f in findings:
        found.setdefault(f.object.name, []).append(f)
    return found


def test_good_and_bad(good_and_bad):
    good_and_bad(RULE)


def test_the_node_model_gives_efa_pools_one_unit_per_interface():
    """The rule reads EFA from the scheduling simulation's node capacity, as fits-no-pool and the planner do."""
    ctx = build_context(make_context([], POOLS), load_policy(RULE_FIXTURES.parents[2], "production"))
    assert efa_pools(ctx) == {"a100-timeslice": 4, "h100-timeslice": 32, "a100-timeslice-spot": 4}
    free = {view.pool.name: view.capacity for view in ctx.index.views}
    assert "vpc.amazonaws.com/efa" not in free["a100-mig"] and "vpc.amazonaws.com/efa" not in free["cpu"]


def test_each_fault_is_named_with_what_to_request(good_and_bad):
    found = _by_name(good_and_bad(RULE))
    spot = found["bad-spot-pretrain-without-efa"]
    assert [f.severity for f in spot] == [Severity.ERROR, Severity.ERROR]  # Master and Worker
    assert ["(replica Master)" in spot[0].message, "(replica Worker)" in spot[1].message] == [True, True]
    assert all("distributed PyTorchJob (4 GPU pods)" in f.message for f in spot)
    assert all("4 on a100-timeslice-spot (p4d.24xlarge)" in f.message for f in spot)
    (tf,) = found["bad-tf-workers-without-efa"]
    assert "distributed TFJob (2 GPU pods)" in tf.message and "a100-timeslice" in tf.message
    (elastic,) = found["bad-elastic-without-efa"]
    assert "(4 GPU pods)" in elastic.message and "32 on h100-timeslice (p5.48xlarge)" in elastic.message
    trials = found["bad-distributed-trials-without-efa"]
    assert len(trials) == 2 and all("trial template" in f.message and "PyTorchJob" in f.message for f in trials)
    (mig,) = found["bad-efa-on-the-mig-pool"]
    assert mig.severity is Severity.ERROR and "only be placed on pool(s) a100-mig" in mig.message
    assert "stay Pending" in mig.message
    (daemonset,) = found["bad-efa-probe-everywhere"]
    assert daemonset.severity is Severity.ERROR and "DaemonSet pod" in daemonset.message
    assert "a100-mig" in daemonset.message and "cpu" not in daemonset.message
    (mixed,) = found["bad-efa-selection-admits-mig"]
    assert mixed.severity is Severity.WARNING and "scheduler skips those nodes" in mixed.message
    # Findings sit on the pod spec, where requests and placement are written (not on the object's first line).
    assert (mig.file, mig.line) == ("tests/rules/fixtures/efa-not-requested/bad.yaml", 105)
    assert (fixture_dir(RULE) / "bad.yaml").read_text().splitlines()[104].strip() == "spec:"


def test_requesting_efa_clears_the_missing_request():
    manifests = _bad()
    job = next(m for m in manifests if m.ref.name == "bad-tf-workers-without-efa")
    limits = job.obj["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    limits["vpc.amazonaws.com/efa"] = 4
    assert "bad-tf-workers-without-efa" not in {f.object.name for f in run_rule(RULE, manifests, POOLS)}


def test_a_single_gpu_pod_needs_no_efa():
    manifests = _bad()
    job = next(m for m in manifests if m.ref.name == "bad-tf-workers-without-efa")
    job.obj["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] = 1
    assert "bad-tf-workers-without-efa" not in {f.object.name for f in run_rule(RULE, manifests, POOLS)}


def test_without_efa_pools_the_rule_is_silent_about_missing_requests():
    """The frozen rule pools have no EFA: nothing to request, and an EFA request fits nowhere."""
    findings = _by_name(run_rule(RULE, _bad()))
    assert not any(n.endswith("-without-efa") for n in findings)
    assert {"bad-efa-on-the-mig-pool", "bad-efa-probe-everywhere"} <= set(findings)


def test_fits_no_pool_leaves_the_efa_misfit_to_this_rule():
    manifests = _bad()
    names = {f.object.name for f in run_rule("policy/fits-no-pool", manifests, POOLS)}
    assert "bad-efa-on-the-mig-pool" not in names
    # When more than EFA keeps the pod off every pool, fits-no-pool still reports it.
    big = copy.deepcopy(next(m for m in manifests if m.ref.name == "bad-efa-on-the-mig-pool"))
    big.obj["metadata"]["name"] = "too-big"
    big.obj["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "500"
    assert "too-big" in {f.object.name for f in run_rule("policy/fits-no-pool", [big], POOLS)}
    assert "too-big" not in {f.object.name for f in run_rule(RULE, [big], POOLS)}


def test_more_efa_than_the_node_has_is_fits_no_pool():
    """32 interfaces on a p4d pool: the count is wrong, not the pool; fits-no-pool names the shortfall."""
    manifests = load_fixture(fixture_dir(RULE) / "good.yaml")
    job = next(m for m in manifests if m.ref.name == "spot-pretrain-with-efa")
    limits = job.obj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["resources"]
    limits["limits"]["vpc.amazonaws.com/efa"] = 32
    assert run_rule(RULE, [job], POOLS) == []
    (finding,) = [f for f in run_rule("policy/fits-no-pool", [job], POOLS) if "replica Master" in f.message]
    assert "vpc.amazonaws.com/efa: requests 32, a node has 4 allocatable" in finding.message


def test_an_exemption_needs_a_reason():
    manifests = load_fixture(fixture_dir(RULE) / "good.yaml")
    job = next(m for m in manifests if m.ref.name == "gloo-smoke-test")
    job.obj["metadata"]["annotations"]["mlplatform.example.com/exempt-efa-not-requested"] = " "
    assert {f.object.name for f in run_rule(RULE, [job], POOLS)} == {"gloo-smoke-test"}
