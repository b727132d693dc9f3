"""The PromQL metric-name tokenizer that the KEDA trigger rule uses."""

from __future__ import annotations

import pytest

from mlplatform.promql import PromQLError, Selector, metric_names, selectors


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ('sum(tgi_queue_size{namespace="inference", service="tgi"})', ["tgi_queue_size"]),
        ('sum(vllm:num_requests_waiting{service="vllm"})', ["vllm:num_requests_waiting"]),
        (
            'sum(rate(request_total{namespace="agents", deployment="crewai", direction="inbound"}[2m]))',
            ["request_total"],
        ),
        # grouping clauses hold label names, before or after the aggregated expression
        ("sum by (job, instance) (up)", ["up"]),
        ("sum without (pod) (rate(http_requests_total[5m])) by (le)", ["http_requests_total"]),
        # vector matching: on/ignoring/group_left label lists; a bare group_left does not swallow a metric
        ("a * on (node) group_left (pool) b", ["a", "b"]),
        ("a / ignoring (code) group_right c", ["a", "c"]),
        ("errors and on (job) up unless absent_metric", ["errors", "up", "absent_metric"]),
        # numbers, durations, offsets, @ modifiers, subqueries, bool
        ("x > bool 1e3 and y offset -5m > Inf", ["x", "y"]),
        ("max_over_time(z[1h:5m] @ end()) > NaN", ["z"]),
        ("0x1F + q[5m] offset 1h30m", ["q"]),
        # strings never name metrics, except as __name__ or a lone quoted name in braces
        ('label_replace(up, "dst", "$1", "src", "(.*)")', ["up"]),
        ('{__name__="tgi_request_count", job="tgi"}', ["tgi_request_count"]),
        ('sum({"my.metric", job="x"})', ["my.metric"]),
        ('{__name__=~"tgi_.*"}', []),
        ('count_values("version", build_info)', ["build_info"]),
        # comments, escaped quotes, duplicates
        ('sum(a{l="x\\"}"}) # b is not here\n + a', ["a"]),
        (
            "histogram_quantile(0.9, sum by (le) (rate(tgi_request_duration_bucket[5m])))",
            ["tgi_request_duration_bucket"],
        ),
    ],
)
def test_metric_names(query: str, names: list[str]) -> None:
    assert metric_names(query) == names


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sum(x", "unclosed bracket"),
        ("sum(x))", "unbalanced ')'"),
        ('x{a="b}', "unterminated string at character 5"),
        ("x{a=1} ? y", "unexpected character '?'"),
        ("x[5m}", "unbalanced '}'"),
    ],
)
def test_unreadable_queries(query: str, message: str) -> None:
    with pytest.raises(PromQLError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        metric_names(query)


def test_selectors_keep_equality_matchers() -> None:
    query = (
        'sum(tgi_queue_size{namespace="inference", service=~"tgi.*", job="tgi"}) '
        '/ on (namespace) group_left count({__name__="up", "namespace"="inference"}) > bool {x="1"}'
    )
    assert selectors(query) == [
        Selector("tgi_queue_size", (("namespace", "inference"), ("job", "tgi"))),
        Selector("up", (("namespace", "inference"),)),
    ]
    assert selectors(query)[0].matcher("namespace") == "inference"
    assert selectors(query)[0].matcher("service") is None
