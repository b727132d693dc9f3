"""The PrometheusRule step of `check`: the real promtool on rule groups and unit tests, and alert coverage."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from helpers import REPO_ROOT
from mlplatform.config import Config
from mlplatform.context import ClusterContext
from mlplatform.errors import ToolError
from mlplatform.model import Manifest, Severity
from mlplatform.prometheus_rules import (
    RULE_CHECK,
    RULE_TEST,
    RULE_UNAVAILABLE,
    RULE_UNTESTED,
    check_cluster,
)
from mlplatform.promtool import find_promtool
from mlplatform.provenance import SourceProvenance
from mlplatform.render import SourceCache
from mlplatform.rule_tests import duration_ms
from mlplatform.yamlio import load_documents, plain

GPU_ALERTS = "infrastructure/configs/base/monitoring/gpu-alerts.yaml"
GPU_TESTS = "infrastructure/configs/base/monitoring/tests/gpu-alerts.test.yaml"

RULES = textwrap.dedent(
    """\
    apiVersion: monitoring.coreos.com/v1
    kind: PrometheusRule
    metadata:
      name: node-alerts
      namespace: monitoring
    spec:
      groups:
        - name: nodes
          rules:
            - alert: NodeDown
              expr: up{job="node"} == 0
              for: 5m
              labels:
                severity: critical
              annotations:
                summary: node {{ $labels.instance }} is down
    """
)
TESTS = textwrap.dedent(
    """\
    rule_files:
      - ../rules.yaml
    tests:
      - name: one node down
        interval: 1m
        input_series:
          - series: 'up{job="node",instance="a"}'
            values: '1 0x10'
          - series: 'up{job="node",instance="b"}'
            values: '1x10'
        alert_rule_test:
          - eval_time: 3m
            alertname: NodeDown
            exp_alerts: []
          - eval_time: 8m
            alertname: NodeDown
            exp_alerts:
              - exp_labels: {severity: critical, job: node, instance: a}
                exp_annotations: {summary: node a is down}
    """
)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def scenario(tmp_path: Path, rules: str = RULES, tests: str = TESTS) -> tuple[Path, ClusterContext]:
    """A repository with one PrometheusRule (monitoring/rules.yaml) and its unit test, loaded as check would."""
    repo = tmp_path / "repo"
    (repo / "monitoring" / "tests").mkdir(parents=True)
    (repo / "monitoring" / "rules.yaml").write_text(rules)
    (repo / "monitoring" / "tests" / "rules.test.yaml").write_text(tests)
    return repo, context(repo, ["monitoring/rules.yaml"])


def context(repo: Path, files: list[str]) -> ClusterContext:
    manifests = [
        Manifest("production", plain(doc.data), SourceProvenance(file, doc.line, document=doc.data))
        for file in files
        for doc in load_documents(repo / file)
        if isinstance(doc.data, dict)
    ]
    return ClusterContext(
        repo=repo, config=Config(repo=repo), cluster="production", manifests=manifests, pool_file=None
    )


@pytest.fixture
def promtool(promtool_bin: str, monkeypatch):
    monkeypatch.setenv("MLPLATFORM_PROMTOOL", promtool_bin)
    found = find_promtool(REPO_ROOT, Config(repo=REPO_ROOT))
    assert found is not None and found.version.startswith("version 2.")
    return found


def run(ctx: ClusterContext, promtool) -> list:
    return check_cluster(ctx, SourceCache(), promtool)


def test_duration_ms() -> None:
    assert duration_ms("3h10m") == (3 * 60 + 10) * 60_000
    assert duration_ms("0s") == 0
    assert duration_ms("90s") == 90_000
    assert duration_ms("10x") is None
    assert duration_ms("") is None


def test_discovery_order_and_errors(promtool_bin: str, tmp_path: Path, monkeypatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("MLPLATFORM_PROMTOOL", raising=False)
    monkeypatch.setattr("mlplatform.promtool.SETUP_BIN", tmp_path / "no-set-up")
    assert find_promtool(tmp_path, Config(repo=tmp_path)) is None
    monkeypatch.setenv("MLPLATFORM_PROMTOOL", str(tmp_path / "missing"))
    with pytest.raises(ToolError, match="promtool not found"):
        find_promtool(tmp_path, Config(repo=tmp_path))
    not_promtool = tmp_path / "fake"
    not_promtool.write_text("#!/bin/sh\necho hello\n")
    not_promtool.chmod(0o755)
    monkeypatch.setenv("MLPLATFORM_PROMTOOL", str(not_promtool))
    with pytest.raises(ToolError, match="not a working promtool"):
        find_promtool(tmp_path, Config(repo=tmp_path))
    # the environment wins (Config has no field that names a promtool: config.py refuses such settings)
    monkeypatch.setenv("MLPLATFORM_PROMTOOL", promtool_bin)
    assert find_promtool(tmp_path, Config(repo=tmp_path)).path == str(Path(promtool_bin).resolve())


def test_good_rules_and_tests_pass(tmp_path: Path, promtool) -> None:
    _, ctx = scenario(tmp_path)
    assert run(ctx, promtool) == []


def test_broken_expression_is_reported_at_its_line(tmp_path: Path, promtool) -> None:
    rules = RULES.replace('expr: up{job="node"} == 0', 'expr: sum(up{job="node"} == 0')
    _, ctx = scenario(tmp_path, rules=rules)
    findings = run(ctx, promtool)
    assert [(f.rule, f.file, f.line) for f in findings] == [
        (RULE_CHECK, "monitoring/rules.yaml", line_of(rules, "expr:"))
    ], findings
    assert "unclosed left parenthesis" in findings[0].message and "NodeDown" in findings[0].message
    assert findings[0].severity is Severity.ERROR


def test_broken_template_is_reported_at_the_annotation(tmp_path: Path, promtool) -> None:
    rules = RULES.replace("summary: node {{ $labels.instance }} is down", "summary: node {{ $labels.instance is down")
    _, ctx = scenario(tmp_path, rules=rules)
    findings = run(ctx, promtool)
    assert [(f.rule, f.line) for f in findings] == [(RULE_CHECK, line_of(rules, "summary:"))], findings


def test_rule_that_fails_on_the_test_series_is_reported_at_the_rule(tmp_path: Path, promtool) -> None:
    """The MIG case: several series per node on the `one` side of group_left is an evaluation error."""
    rules = RULES.replace(
        'expr: up{job="node"} == 0',
        'expr: up{job="node"} * on (instance) group_left () (capacity > 0) == 0',
    )
    tests = TESTS.replace(
        "    alert_rule_test:",
        textwrap.indent(
            "  - series: 'capacity{instance=\"a\",resource=\"mig_1g\"}'\n    values: '1x10'\n"
            "  - series: 'capacity{instance=\"a\",resource=\"mig_2g\"}'\n    values: '1x10'\n",
            "    ",
        )
        + "    alert_rule_test:",
    )
    assert "mig_2g" in tests
    _, ctx = scenario(tmp_path, rules=rules, tests=tests)
    findings = run(ctx, promtool)
    evaluation = [f for f in findings if "fails to evaluate" in f.message]
    assert len(evaluation) == 1, findings
    assert (evaluation[0].rule, evaluation[0].file, evaluation[0].line) == (
        RULE_TEST,
        "monitoring/rules.yaml",
        line_of(rules, "expr:"),
    )
    assert "many-to-many" in evaluation[0].message
    assert "monitoring/tests/rules.test.yaml" in evaluation[0].message


def test_failing_alert_test_is_reported_at_the_test_case(tmp_path: Path, promtool) -> None:
    tests = TESTS.replace("job: node, instance: a}", "job: node, instance: b}")
    _, ctx = scenario(tmp_path, tests=tests)
    findings = run(ctx, promtool)
    assert [(f.rule, f.file, f.line) for f in findings] == [
        (RULE_TEST, "monitoring/tests/rules.test.yaml", line_of(tests, "- eval_time: 8m"))
    ], findings
    assert "'one node down'" in findings[0].message and "NodeDown at 8m" in findings[0].message


def test_every_alert_needs_a_firing_and_a_silent_test(tmp_path: Path, promtool) -> None:
    tests = re.sub(r"      - eval_time: 3m\n.*?exp_alerts: \[\]\n", "", TESTS, flags=re.S)
    assert "eval_time: 3m" not in tests
    _, ctx = scenario(tmp_path, tests=tests)
    findings = run(ctx, promtool)
    assert [(f.rule, f.file, f.line) for f in findings] == [
        (RULE_UNTESTED, "monitoring/rules.yaml", line_of(RULES, "- alert: NodeDown"))
    ]
    assert "none where it stays silent" not in findings[0].message
    assert "where it stays silent" in findings[0].message and "monitoring/rules.yaml" in findings[0].message


def test_untested_alerts_are_reported_without_promtool(tmp_path: Path) -> None:
    repo, ctx = scenario(tmp_path)
    (repo / "monitoring" / "tests" / "rules.test.yaml").unlink()
    findings = check_cluster(ctx, SourceCache(), None)
    assert sorted(f.rule for f in findings) == [RULE_UNAVAILABLE, RULE_UNTESTED]
    untested = next(f for f in findings if f.rule == RULE_UNTESTED)
    assert "where it fires and none where it stays silent" in untested.message
    assert next(f for f in findings if f.rule == RULE_UNAVAILABLE).severity is Severity.WARNING


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("../*.yaml", "without globs"),
        ("../../../outside.yaml", "inside the repository"),
        ("../missing.yaml", "does not exist"),
        ("rules.test.yaml", "holds no PrometheusRule"),
    ],
)
def test_rule_files_must_name_prometheus_rules_in_the_repository(tmp_path: Path, promtool, entry, expected) -> None:
    tests = TESTS.replace("  - ../rules.yaml", f"  - {entry}")
    _, ctx = scenario(tmp_path, tests=tests)
    findings = [f for f in run(ctx, promtool) if f.rule == RULE_TEST]
    assert [(f.file, f.line) for f in findings] == [("monitoring/tests/rules.test.yaml", 2)], findings
    assert expected in findings[0].message


def test_the_repository_gpu_alerts_pass_their_unit_tests(promtool) -> None:
    assert run(context(REPO_ROOT, [GPU_ALERTS]), promtool) == []


def test_the_old_gpu_alerts_fail_on_mig_nodes(tmp_path: Path, promtool) -> None:
    """The expression this repository had: its group_left join breaks on a MIG node's three resources."""
    repo = tmp_path / "repo"
    for file in (GPU_ALERTS, GPU_TESTS):
        (repo / file).parent.mkdir(parents=True, exist_ok=True)
        (repo / file).write_text((REPO_ROOT / file).read_text())
    text = (repo / GPU_ALERTS).read_text()
    start = text.index("        - alert: GPUMetricsMissing")
    old = (
        "        - alert: GPUMetricsMissing\n"
        "          expr: >-\n"
        '            sum by (node) (kube_node_labels{label_mlplatform_example_com_pool=~".+"}\n'
        '              * on (node) group_left () (kube_node_status_capacity{resource=~"nvidia_com_.*"} > 0))\n'
        '            unless on (node) sum by (node) (DCGM_FI_DEV_GPU_TEMP)\n'
    )
    end = text.index("          for: 15m", start)
    (repo / GPU_ALERTS).write_text(text[:start] + old + text[end:])
    findings = run(context(repo, [GPU_ALERTS]), promtool)
    evaluation = [f for f in findings if f.rule == RULE_TEST and f.file == GPU_ALERTS]
    assert evaluation and all("many-to-many" in f.message for f in evaluation), findings
    assert evaluation[0].line == line_of((repo / GPU_ALERTS).read_text(), "sum by (node) (kube_node_labels") - 1


def test_identical_promtool_runs_are_made_once_and_changed_inputs_again(promtool_bin: str, tmp_path: Path):
    """Both clusters render the same rules: the second identical run reuses the first's result, and any change
    of a byte in the scratch directory (what promtool reads) runs promtool again."""
    from concurrent.futures import ThreadPoolExecutor

    from mlplatform.promtool import Promtool

    calls = tmp_path / "calls"
    wrapper = tmp_path / "counting-promtool"
    wrapper.write_text(f'#!/bin/sh\necho run >> "{calls}"\nexec "{promtool_bin}" "$@"\n')
    wrapper.chmod(0o755)
    tool = Promtool(str(wrapper), "test")

    def scratch(name: str, expr: str) -> Path:
        directory = tmp_path / name
        directory.mkdir()
        rule = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": expr}]}]}
        (directory / "r.rules.yaml").write_text(textwrap.dedent(str(rule).replace("'", '"')))
        return directory

    first, second, changed = scratch("one", "up == 0"), scratch("two", "up == 0"), scratch("three", "up == 1")
    with ThreadPoolExecutor(2) as pool:  # the clusters run at the same time: the second waits for the first
        results = list(pool.map(lambda d: tool.run(["check", "rules", "r.rules.yaml"], d), [first, second]))
    assert [r.returncode for r in results] == [0, 0] and results[0].stdout == results[1].stdout
    assert calls.read_text().count("run") == 1
    broken = scratch("four", "up ==")
    assert tool.run(["check", "rules", "r.rules.yaml"], changed).returncode == 0
    assert tool.run(["check", "rules", "r.rules.yaml"], broken).returncode == 1
    assert calls.read_text().count("run") == 3
