"""Rule keda-metric-exported: good and bad fixtures (tests/rules/fixtures/keda-metric-exported/)."""

from __future__ import annotations

from rulekit import RULE_FIXTURES, load_fixture, run_rule

from mlplatform.rules.keda_metric_exported import EXPORTS_ANNOTATION


def test_good_and_bad(good_and_bad):
    bad = good_and_bad("policy/keda-metric-exported")
    by_object = {f.object.name: f.message for f in bad}
    assert "batch_queue_depth, which no workload of this cluster exports" in by_object["bad-nothing-exports"]
    assert EXPORTS_ANNOTATION in by_object["bad-nothing-exports"]
    assert "Deployment serving/batch-server declares it, but no ServiceMonitor" in by_object["bad-unscraped"]
    assert "Deployment serving/api declares it" in by_object["bad-wrong-port"]
    assert "Deployment jobs/worker declares it" in by_object["bad-other-namespace"]
    assert "cannot be read (unclosed bracket" in by_object["bad-unreadable"]
    assert (
        'scraped_queue with namespace="serving", service="elsewhere", but Prometheus scrapes it only from '
        "Deployment serving/scraped via ServiceMonitor serving/scraped (namespace serving; service scraped)"
    ) in by_object["bad-wrong-service"]
    assert 'with namespace="jobs"' in by_object["bad-wrong-namespace"]
    assert len(bad) == 7


def test_the_fix_for_each_bad_trigger_passes():
    """Scraping the unscraped workloads (and fixing the port and the namespace) clears their findings."""
    manifests = load_fixture(RULE_FIXTURES / "keda-metric-exported" / "bad.yaml")
    for manifest in manifests:
        obj = manifest.obj
        if obj["kind"] == "ServiceMonitor":
            obj["spec"]["endpoints"][0]["port"] = "http"
        if obj["kind"] == "PodMonitor":
            obj["spec"]["namespaceSelector"] = {"matchNames": ["jobs"]}
    findings = run_rule("policy/keda-metric-exported", manifests)
    assert {f.object.name for f in findings} == {
        "bad-nothing-exports", "bad-unscraped", "bad-unreadable", "bad-wrong-service", "bad-wrong-namespace"
    }


def test_a_meshed_pod_opted_out_is_not_scraped_by_the_proxy_monitor():
    manifests = load_fixture(RULE_FIXTURES / "keda-metric-exported" / "good.yaml")
    frontend = next(m for m in manifests if m.ref.name == "frontend")
    frontend.obj["spec"]["template"]["metadata"]["annotations"] = {"linkerd.io/inject": "disabled"}
    findings = run_rule("policy/keda-metric-exported", manifests)
    assert [(f.object.name, "request_total" in f.message) for f in findings] == [("good-requests", True)]
