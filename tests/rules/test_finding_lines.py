"""Every rule's finding names the field it is about, not the first line of the object.

A newcomer's findings pointed at `apiVersion:`; the reader then had to search the object for the field. Each
rule's bad fixture is run and every finding's line is read back from its file: it must not be the object's
first line (apiVersion, kind or the document marker). Some rules name a specific field; those are pinned below,
by the text of the line, so a rule that falls back to a coarser line fails here.
"""

from __future__ import annotations

import pytest
from rulekit import REPO, fixture_dir, fixture_findings

from mlplatform.rules import RULES_BY_ID

# pool-sharing-range reads the pool file, not objects: its own test pins the pool's line
POOL_FILE_RULES = {"policy/pool-sharing-range"}
RULES_WITH_FIXTURES = sorted(
    rule_id for rule_id in RULES_BY_ID if fixture_dir(rule_id).is_dir() and rule_id not in POOL_FILE_RULES
)

# rule -> object name -> text the finding's line must contain (the field a reader edits)
PINNED: dict[str, dict[str, str]] = {
    "policy/cpu-tolerates-gpu-taint": {"bad-wildcard": "{operator: Exists}"},
    "policy/exemption-reason": {"bad-empty-reason": "exempt-resources-missing", "bad-unknown-rule": "exempt-"},
    "policy/efs-mount-policy": {"bad-no-iam": "provisioner:", "bad-pv-no-iam": "driver:"},
    "policy/gpu-daemonset-coverage": {"bad-nvidia-device-plugin": "tolerations:"},
    "policy/gpu-memory-uncapped": {"bad-too-high": "--gpu-memory-utilization", "bad-env-high": "CUDA_MEMORY_FRACTION"},
    "policy/ha-pdb": {"bad-pdb-zero": "minAvailable", "bad-no-pdb": "labels:"},
    "policy/ha-replicas": {"bad-one-replica": "replicas: 1"},
    "policy/ha-zone-spread": {"bad-host-only": "topologySpreadConstraints:"},
    "policy/katib-metrics-collector": {
        "bad-primary-container-missing": "primaryContainerName:",
        "bad-stdout-exec": "name: trainer",
    },
    "policy/mig-profile-allowed": {"bad-critical-3g": "nvidia.com/mig-3g.40gb"},
    "policy/mig-profile-not-offered": {"bad-4g": "nvidia.com/mig-4g.40gb", "bad-40gb-name": "nvidia.com/mig-1g.5gb"},
    "policy/pool-not-allowed": {"bad-unknown-type": "workload-type: gaming"},
    "policy/priority-class": {"bad-wrong-class": "priorityClassName: batch"},
    "policy/priority-class-exists": {"bad-missing-class": "priorityClassName:"},
    "policy/resources-missing": {"bad-init-missing": "resources:"},
    "policy/sharing-config-drift": {"bad-mig-parted-config": "config.yaml:"},
    "policy/spot-restart": {"bad-never": "restartPolicy: Never", "bad-backoff-zero": "backoffLimit: 0"},
    "policy/timeslice-multiple-gpus": {"bad-two-gpus": "nvidia.com/gpu"},
}


def _line_text(rule_id: str, file: str, line: int) -> str:
    # manifests are named from the repository root; a cross-layer fixture's Terraform from its own tree
    path = REPO / file
    if not path.is_file():
        path = fixture_dir(rule_id) / "bad" / file
    lines = path.read_text(encoding="utf-8").splitlines()
    assert 1 <= line <= len(lines), (rule_id, file, line)
    return lines[line - 1]


@pytest.mark.parametrize("rule_id", RULES_WITH_FIXTURES)
def test_no_finding_names_only_the_first_line_of_its_object(rule_id: str) -> None:
    manifests, bad = fixture_findings(rule_id, "bad")
    assert bad, f"{rule_id}: its bad fixture gives no finding"
    starts = {(m.source.file, m.source.line) for m in manifests}
    for finding in bad:
        assert finding.file and finding.line, (rule_id, finding.message)
        text = _line_text(rule_id, finding.file, finding.line).strip()
        where = (rule_id, finding.object.name if finding.object else None, finding.line, text)
        assert not text.startswith(("apiVersion:", "kind:", "---")), where
        if finding.object is not None:
            assert (finding.file, finding.line) not in starts, where


@pytest.mark.parametrize("rule_id", sorted(PINNED))
def test_pinned_findings_name_their_field(rule_id: str) -> None:
    _, bad = fixture_findings(rule_id, "bad")
    lines = {f.object.name: _line_text(rule_id, f.file, f.line) for f in bad if f.object and f.file and f.line}
    for name, wanted in PINNED[rule_id].items():
        assert name in lines, (rule_id, name, sorted(lines))
        assert wanted in lines[name], (rule_id, name, lines[name])
