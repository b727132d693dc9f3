"""One finding per mistake: a shared file's mistake once for all clusters, consequences folded into their cause,
and "did you mean" for names that must match something."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers import run_cli
from mlplatform.consolidate import consolidate, drop_consequences, fold_into_causes, merge_clusters
from mlplatform.model import Cause, Finding, ObjectRef, Severity, Suppression
from mlplatform.report import format_findings
from mlplatform.suggest import closest, did_you_mean

VLLM = ObjectRef("apps/v1", "Deployment", "inference", "vllm")
VLLM_FILE = "apps/base/inference/vllm/deployment.yaml"


def finding(rule: str, cluster: str, message: str = "m", severity: Severity = Severity.ERROR) -> Finding:
    return Finding(rule, severity, message, cluster, VLLM_FILE, 3, VLLM)


def edit(repo: Path, rel: str, old: str, new: str, count: int = 1) -> None:
    path = repo / rel
    text = path.read_text()
    assert text.count(old) >= count, (rel, old)
    path.write_text(text.replace(old, new, count))


def check(repo: Path, fmt: str = "json") -> tuple[int, str]:
    proc = run_cli("check", "--repo", str(repo), "--format", fmt)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, proc.stdout


def errors(report: str) -> list[dict]:
    return [f for f in json.loads(report)["findings"] if f["severity"] == "error"]


# ---------------------------------------------------------------- merging and folding, as functions


def test_the_same_finding_in_two_clusters_becomes_one_listing_both() -> None:
    [merged] = merge_clusters([finding("policy/fits-no-pool", "staging"), finding("policy/fits-no-pool", "production")])
    assert merged.clusters == ("production", "staging") and merged.cluster == "production"
    assert merged.to_json()["clusters"] == ["production", "staging"]
    assert merged.to_json()["cluster"] == "production"  # the contract before `clusters` existed still holds


def test_findings_that_differ_stay_apart() -> None:
    kept = merge_clusters(
        [finding("policy/fits-no-pool", "production", "a"), finding("policy/fits-no-pool", "staging", "b")]
    )
    assert [(f.cluster, f.all_clusters) for f in kept] == [("production", ("production",)), ("staging", ("staging",))]


def test_unplaced_is_folded_into_the_rule_that_says_why() -> None:
    findings = [finding("policy/fits-no-pool", "production"), finding("capacity/unplaced", "production"),
                finding("capacity/unplaced", "staging")]
    # staging has no cause on the object: its unplaced finding is the only report of the problem and stays
    assert [(f.rule, f.cluster) for f in drop_consequences(findings)] == [
        ("policy/fits-no-pool", "production"), ("capacity/unplaced", "staging")]


def test_a_finding_that_follows_from_a_reported_cause_folds_into_it() -> None:
    yaml_file, kfile = "apps/base/x/so.yaml", "apps/base/x/kustomization.yaml"
    cause = Finding("yaml/syntax", Severity.ERROR, "invalid YAML", None, yaml_file, 10)
    render = [Finding("render/unreadable-input", Severity.ERROR, "cannot be used", cluster, kfile, 6,
                      follows=Cause(yaml_file, ("yaml/",))) for cluster in ("staging", "production")]
    [kept] = consolidate([cause, *render])
    assert kept is cause and kept.message == (
        "invalid YAML (1 more finding(s) follow from it and are left out: render/unreadable-input at "
        f"{kfile}:6 [production, staging]; run check again after fixing it)"
    )


def test_a_finding_whose_cause_is_exempted_stays() -> None:
    # an exemption annotation on the object suppresses schema/invalid: the capacity finding that follows from it
    # would otherwise vanish with it
    follows = Cause(VLLM_FILE, ("schema/invalid",), VLLM)
    cause = Finding("schema/invalid", Severity.ERROR, "m", "production", VLLM_FILE, 9, VLLM,
                    suppression=Suppression("inSource", "reviewed", "exempt-invalid"))
    unplaced = Finding("capacity/unplaced", Severity.ERROR, "u", "production", VLLM_FILE, 3, VLLM, follows=follows)
    assert fold_into_causes([cause, unplaced]) == [cause, unplaced] and cause.message == "m"


def test_a_finding_whose_cause_nobody_reports_stays() -> None:
    # the cause is elsewhere, of another rule, or on another object: the consequence is the only report
    follows = Cause(VLLM_FILE, ("schema/invalid",), VLLM)
    other = ObjectRef("keda.sh/v1alpha1", "ScaledObject", "inference", "vllm")
    findings = [
        Finding("policy/fits-no-pool", Severity.ERROR, "m", "production", VLLM_FILE, 3, VLLM),
        Finding("schema/invalid", Severity.ERROR, "m", "production", VLLM_FILE, 9, other),
        Finding("schema/invalid", Severity.ERROR, "m", "staging", VLLM_FILE, 9, VLLM),
        Finding("capacity/unplaced", Severity.ERROR, "u", "production", VLLM_FILE, 3, VLLM, follows=follows),
    ]
    assert fold_into_causes(findings) == findings and [f.message for f in findings] == ["m", "m", "m", "u"]


def test_every_format_shows_a_merged_finding_once_with_both_clusters() -> None:
    [merged] = consolidate([finding("policy/fits-no-pool", "production"), finding("policy/fits-no-pool", "staging")])
    text = format_findings([merged], "text").splitlines()
    assert text[0].endswith("[production, staging, Deployment inference/vllm]") and len(text) == 2
    [result] = json.loads(format_findings([merged], "sarif"))["runs"][0]["results"]
    assert result["properties"] == {"cluster": "production", "clusters": ["production", "staging"]}
    github = [line for line in format_findings([merged], "github").splitlines() if line.startswith("::")]
    assert len(github) == 1 and "production%2C staging" in github[0]
    rows = [line for line in format_findings([merged], "markdown").splitlines() if line.startswith("| error")]
    assert len(rows) == 1 and "production, staging" in rows[0]


def test_did_you_mean() -> None:
    assert closest("infra-config", ["infra-configs", "infra-controllers", "apps"]) == "infra-configs"
    assert closest("max_szie", ["min_size", "max_size", "desired_size"]) == "max_size"
    assert did_you_mean("zzz", ["infra-configs"]) == ""
    assert did_you_mean("apps", ["apps"]) == ""  # an existing name is not a typo


# ---------------------------------------------------------------- one mistake in a copy of this repository


def test_a_missing_toleration_in_apps_base_is_one_error_for_both_clusters(repo_copy: Path) -> None:
    edit(repo_copy, VLLM_FILE, "        - {key: gpu, operator: Equal, value: mig, effect: NoSchedule}\n", "")
    code, report = check(repo_copy)
    assert code == 1
    [error] = errors(report)
    assert (error["rule"], error["file"], error["clusters"]) == (
        "policy/fits-no-pool", VLLM_FILE, ["production", "staging"]
    )
    assert error["cluster"] == "production"
    _, sarif = check(repo_copy, "sarif")
    results = [r for r in json.loads(sarif)["runs"][0]["results"] if r["level"] == "error"]
    assert len(results) == 1 and results[0]["properties"]["clusters"] == ["production", "staging"]
    _, text = check(repo_copy, "text")
    error_lines = [line for line in text.splitlines() if re.match(r"^\S+: error ", line)]
    assert len(error_lines) == 1 and "[production, staging, Deployment inference/vllm]" in error_lines[0]
    assert text.splitlines()[-1].startswith("1 error,")


def test_a_mig_profile_typo_is_one_error_that_suggests_the_profile(repo_copy: Path) -> None:
    # the profile in both the limit and the request, as a person renaming it would change it
    edit(repo_copy, VLLM_FILE, "nvidia.com/mig-3g.40gb: 1", "nvidia.com/mig-3g.80gb: 1", count=2)
    code, report = check(repo_copy)
    [error] = errors(report)
    assert code == 1 and error["rule"] == "policy/mig-profile-not-offered"
    assert error["clusters"] == ["production", "staging"]
    assert error["message"].endswith("did you mean '3g.40gb'?")


def test_a_depends_on_typo_is_reported_first_and_almost_alone(repo_copy: Path) -> None:
    edit(repo_copy, "clusters/production/apps.yaml", "    - name: infra-configs", "    - name: infra-config")
    code, report = check(repo_copy)
    found = errors(report)
    assert code == 1 and 1 <= len(found) <= 2, found
    first = found[0]
    assert (first["rule"], first["file"]) == ("flux/depends-on-missing", "clusters/production/apps.yaml")
    assert first["line"] == 8  # the dependsOn entry
    assert first["message"].endswith("did you mean 'infra-configs'?")
    assert not [f for f in found if f["rule"] == "flux/crd-not-installed-first"]


def test_a_pool_file_key_typo_names_the_key_and_suggests_the_right_one(repo_copy: Path) -> None:
    pool_file = "terraform/environments/production/node-pools.yaml"
    edit(repo_copy, pool_file, "    max_size: 12", "    max_szie: 12")
    line = next(i for i, text in enumerate((repo_copy / pool_file).read_text().splitlines(), 1) if "max_szie" in text)
    code, report = check(repo_copy)
    [error] = errors(report)  # no findings about the pools the broken file could not describe
    assert code == 1 and (error["rule"], error["file"], error["line"]) == ("pool/file-invalid", pool_file, line)
    assert "'max_szie'" in error["message"] and "did you mean 'max_size'?" in error["message"]


def test_a_scaled_object_typo_is_a_schema_error_not_a_capacity_error(repo_copy: Path) -> None:
    """KEDA's default maxReplicaCount is 100: read with the typo, the ScaledObject would overflow its pool."""
    edit(repo_copy, "apps/base/inference/vllm/scaledobject.yaml", "  maxReplicaCount: 8", "  maxReplicaCont: 8")
    code, report = check(repo_copy)
    [error] = errors(report)
    assert code == 1 and error["rule"] == "schema/invalid" and "maxReplicaCont" in error["message"]
    assert not [f for f in json.loads(report)["findings"] if f["rule"].startswith("capacity/")]


@pytest.mark.parametrize(
    ("rel", "old", "new", "rule", "suggestion"),
    [
        (VLLM_FILE, "priorityClassName: production-inference", "priorityClassName: production-inferenc",
         "policy/priority-class", "required: 'production-inference'"),
        ("clusters/staging/infrastructure.yaml", "    name: flux-system", "    name: flux-sytem",
         "flux/source-missing", "did you mean 'flux-system'?"),
    ],
)
def test_names_that_must_match_suggest_the_closest(
    repo_copy: Path, rel: str, old: str, new: str, rule: str, suggestion: str
) -> None:
    edit(repo_copy, rel, old, new)
    code, report = check(repo_copy)
    found = errors(report)
    assert code == 1 and found and found[0]["rule"] == rule, found
    assert suggestion in found[0]["message"]


# ---------------------------------------------------------------- a broken file and what could not use it


TRITON_SO = "apps/base/inference/triton/scaledobject.yaml"
TRITON_K = "apps/base/inference/triton/kustomization.yaml"
TGI = "apps/base/inference/tgi-batch/deployment.yaml"
VLLM_K = "apps/base/inference/vllm/kustomization.yaml"
# two lines deleted: tgi-batch's nodeSelector then holds the tolerations' list item
TGI_SELECTOR = '        workload-type.mlplatform.example.com/batch-inference: "true"\n      tolerations:\n'


def reported(report: str) -> list[dict]:
    """Every finding at warning or above (check's default threshold)."""
    return [f for f in json.loads(report)["findings"] if f["severity"] in ("error", "warning")]


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        ("  minReplicaCount: 2\n", "\tminReplicaCount: 2\n", "yaml/syntax"),  # a tab indent
        ("  minReplicaCount: 2\n", "  minReplicaCount: 2\n  minReplicaCount: 3\n", "yaml/duplicate-key"),
    ],
)
def test_broken_yaml_in_a_resource_is_one_error_naming_the_kustomization_that_lists_it(
    repo_copy: Path, old: str, new: str, rule: str
) -> None:
    edit(repo_copy, TRITON_SO, old, new)
    code, report = check(repo_copy)
    [error] = reported(report)  # no render/unreadable-input at the kustomization beside it
    assert code == 1 and (error["rule"], error["file"]) == (rule, TRITON_SO)
    assert error["line"] in (10, 11)  # the tab's line; the repeated key's line
    assert f"render/unreadable-input at {TRITON_K}:6 [production, staging]" in error["message"]


def test_prose_listed_as_a_resource_is_one_error_at_the_file(repo_copy: Path) -> None:
    (repo_copy / "apps/base/inference/vllm/notes.yaml").write_text("Notes about vLLM.\nTune it later.\n")
    edit(repo_copy, VLLM_K, "  - ingress.yaml\n", "  - ingress.yaml\n  - notes.yaml\n")
    code, report = check(repo_copy)
    [error] = reported(report)  # no kustomize error chain at each cluster's root
    assert code == 1
    notes = "apps/base/inference/vllm/notes.yaml"
    assert (error["rule"], error["file"], error["line"]) == ("yaml/not-an-object", notes, 1)
    assert f"render/unreadable-input at {VLLM_K}:8 [production, staging]" in error["message"]


def test_prose_that_no_yaml_check_reads_is_reported_at_the_line_that_lists_it(repo_copy: Path) -> None:
    # hygiene reads *.yaml only: nothing else reports notes.txt, so the render finding is the report
    (repo_copy / "apps/base/inference/vllm/notes.txt").write_text("Notes about vLLM.\n")
    edit(repo_copy, VLLM_K, "  - ingress.yaml\n", "  - ingress.yaml\n  - notes.txt\n")
    code, report = check(repo_copy)
    [error] = reported(report)
    assert code == 1 and (error["rule"], error["file"], error["line"]) == ("render/unreadable-input", VLLM_K, 8)
    assert error["clusters"] == ["production", "staging"] and "str scalar, not a Kubernetes object" in error["message"]
    assert len(error["message"]) < 200


def test_a_pod_template_of_the_wrong_shape_is_one_schema_error(repo_copy: Path) -> None:
    """Two lines deleted: nodeSelector holds the tolerations' list item. The capacity fit, the policy rules
    and the KEDA trigger check (tgi-batch exports its own queue metric) all read that template."""
    edit(repo_copy, TGI, TGI_SELECTOR, "")
    code, report = check(repo_copy)
    [error] = reported(report)
    assert code == 1 and (error["rule"], error["file"], error["line"]) == ("schema/invalid", TGI, 39)
    assert "nodeSelector" in error["message"] and "3 more finding(s) follow from it" in error["message"]
    assert "policy/keda-metric-exported at" in error["message"]
    assert "(ScaledObject inference/tgi-batch)" in error["message"]


def test_a_metric_no_workload_declares_is_still_reported_beside_a_schema_error(repo_copy: Path) -> None:
    edit(repo_copy, TGI, TGI_SELECTOR, "")
    edit(repo_copy, TGI, 'query: sum(tgi_queue_size{namespace="inference", service="tgi-batch"})',
         'query: sum(tgi_queue_sise{namespace="inference", service="tgi-batch"})')
    _, report = check(repo_copy)
    assert sorted(f["rule"] for f in reported(report)) == ["policy/keda-metric-exported", "schema/invalid"]
