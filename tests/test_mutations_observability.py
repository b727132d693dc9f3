"""Mutated copies of this repository that bring back the observability faults of issue 11: `check` fails.

- a KEDA trigger on a metric nothing exports (tgi-batch's batch_queue_depth) and one whose exporter is no
  longer scraped: rule keda-metric-exported at the query's line;
- the GPU alerts' old MIG-breaking join and increase() on the XID gauge, and an alert without unit tests:
  promtool (the real one) fails the unit tests, at the rule and at the test case.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import edit_copy, run_cli

# Each test runs a full `check` of a repository copy: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("observability-mutations")

TGI_BATCH = "apps/base/inference/tgi-batch/deployment.yaml"
TGI_SERVICE = "apps/base/inference/tgi/service.yaml"
TGI_SCALEDOBJECT = "apps/base/inference/tgi/scaledobject.yaml"
GPU_ALERTS = "infrastructure/configs/base/monitoring/gpu-alerts.yaml"
GPU_TESTS = "infrastructure/configs/base/monitoring/tests/gpu-alerts.test.yaml"


def check(repo: Path, crd_schemas: Path, promtool_bin: str) -> list[dict]:
    proc = run_cli(
        "check", "--repo", str(repo), "--format", "json", "--schema-location", str(crd_schemas),
        env={"MLPLATFORM_PROMTOOL": promtool_bin},
    )
    assert proc.returncode == 1, proc.stderr + proc.stdout[-2000:]
    return json.loads(proc.stdout)["findings"]


def errors(findings: list[dict], rule: str, file: str) -> list[dict]:
    return [f for f in findings if f["rule"] == rule and f["file"] == file and f["severity"] == "error"]


def test_keda_triggers_on_metrics_nothing_exports(repo_copy: Path, crd_schemas: Path, promtool_bin: str):
    query_line = edit_copy(
        repo_copy,
        TGI_BATCH,
        'query: sum(tgi_queue_size{namespace="inference", service="tgi-batch"})',
        'query: sum(batch_queue_depth{queue="tgi-batch"})',
    )
    # TGI's ServiceMonitor goes: the real-time TGI declares tgi_queue_size, but nothing scrapes it
    text = (repo_copy / TGI_SERVICE).read_text()
    start = text.index("---\napiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor")
    (repo_copy / TGI_SERVICE).write_text(text[:start])
    findings = check(repo_copy, crd_schemas, promtool_bin)

    batch = errors(findings, "policy/keda-metric-exported", TGI_BATCH)
    assert batch and {f["line"] for f in batch} == {query_line}, batch
    assert all("batch_queue_depth" in f["message"] and f["object"]["name"] == "tgi-batch" for f in batch)
    assert {c for f in batch for c in f["clusters"]} == {"production", "staging"}

    realtime = errors(findings, "policy/keda-metric-exported", TGI_SCALEDOBJECT)
    assert realtime and all("only from Deployment inference/tgi-batch" in f["message"] for f in realtime), realtime


def test_gpu_alerts_that_break_on_mig_nodes_fail_their_unit_tests(
    repo_copy: Path, crd_schemas: Path, promtool_bin: str
):
    # the join this repository had: several nvidia_com_mig_* series per node on the `one` side
    edit_copy(
        repo_copy,
        GPU_ALERTS,
        '              max by (node) (kube_node_labels{label_nvidia_com_gpu_present="true"})\n'
        "              or\n"
        '              max by (node) (kube_node_status_capacity{resource=~"nvidia_com_gpu|nvidia_com_mig_.+"} > 0)\n',
        '              max by (node) (kube_node_labels{label_nvidia_com_gpu_present="true"})\n'
        '              * on (node) group_left () (kube_node_status_capacity{resource=~"nvidia_com_.*"} > 0)\n',
    )
    # increase() on the gauge of the last XID
    edit_copy(
        repo_copy,
        GPU_ALERTS,
        "            max by (node, gpu, modelName) (DCGM_FI_DEV_XID_ERRORS) > 0\n"
        "            and\n"
        "            max by (node, gpu, modelName) (changes(DCGM_FI_DEV_XID_ERRORS[10m])) > 0\n",
        "            increase(DCGM_FI_DEV_XID_ERRORS[10m]) > 0\n",
    )
    # a new alert nobody tested
    (repo_copy / GPU_ALERTS).write_text(
        (repo_copy / GPU_ALERTS).read_text()
        + "        - alert: GPUPowerHigh\n          expr: DCGM_FI_DEV_POWER_USAGE > 400\n"
    )
    findings = check(repo_copy, crd_schemas, promtool_bin)

    evaluation = errors(findings, "promtool/test-rules", GPU_ALERTS)
    assert evaluation, json.dumps(findings, indent=1)[:3000]
    assert all("GPUMetricsMissing fails to evaluate" in f["message"] and "many-to-many" in f["message"]
               for f in evaluation)
    # at the rule's `expr:` line, the one after `- alert: GPUMetricsMissing`
    lines = (repo_copy / GPU_ALERTS).read_text().splitlines()
    expr_line = lines.index("        - alert: GPUMetricsMissing") + 2
    assert lines[expr_line - 1].strip().startswith("expr:")
    assert {f["line"] for f in evaluation} == {expr_line}

    xid = [f for f in errors(findings, "promtool/test-rules", GPU_TESTS) if "alert GPUXidError" in f["message"]]
    assert xid, [f["message"] for f in errors(findings, "promtool/test-rules", GPU_TESTS)]
    test_text = (repo_copy / GPU_TESTS).read_text().splitlines()
    assert all(test_text[f["line"] - 1].strip().startswith("- eval_time:") for f in xid)

    untested = errors(findings, "promtool/untested-alert", GPU_ALERTS)
    assert [f["message"].split(" has ")[0] for f in untested] == ["alert GPUPowerHigh"] * len(untested)
    assert {f["line"] for f in untested} == {len((repo_copy / GPU_ALERTS).read_text().splitlines()) - 1}
