"""Issue 11 items 1 and 3 reintroduced in a copy of this repository: `check` exits 1 with the storage rules'
findings at the file that was changed (efs-mount-policy, backup-volume-mechanism); a removed node identity
has no line left to point at, so that finding names the file system policy that requires one.

Each test is one `mlplatform check` of a mutated copy holding one fault of each rule, the way a pull request
that brings the faults back is checked. The edits are textual, on the lines issue 11 changed, and each
asserts its target text exists so a later edit of those files cannot turn a case into a silent no-op.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run_cli

pytestmark = pytest.mark.xdist_group("storage-mutations")

STORAGE_CLASSES = "infrastructure/controllers/base/storage-classes/storage-classes.yaml"
VELERO_RELEASE = "infrastructure/controllers/base/velero/helmrelease.yaml"
BACKUPS = "infrastructure/configs/base/velero/backups.yaml"
ROLES = "terraform/modules/platform/roles.tf"
PLATFORM = "terraform/modules/platform/main.tf"
STORAGE_MODULE = "terraform/modules/storage/main.tf"


def _replace(repo: Path, rel: str, old: str, new: str, start_at: str | None = None) -> None:
    path = repo / rel
    text = path.read_text()
    offset = text.index(start_at) if start_at else 0
    assert old in text[offset:], f"{rel} no longer holds {old!r}: update this mutation"
    path.write_text(text[:offset] + text[offset:].replace(old, new, 1))


def _line(repo: Path, rel: str, needle: str, start_at: str | None = None) -> int:
    lines = (repo / rel).read_text().splitlines()
    start = next(n for n, line in enumerate(lines, 1) if start_at in line) if start_at else 1
    return next(n for n, line in enumerate(lines, 1) if n >= start and needle in line)


def _errors(repo: Path, crd_schemas: Path) -> dict[str, list[dict]]:
    """Run check on the copy: exit 1, and the error findings by rule (no rule but the storage ones)."""
    proc = run_cli("check", "--repo", str(repo), "--format", "json", "--schema-location", str(crd_schemas))
    assert proc.returncode == 1, proc.stderr + proc.stdout[-2000:]
    by_rule: dict[str, list[dict]] = {}
    for finding in json.loads(proc.stdout)["findings"]:
        if finding["severity"] == "error":
            by_rule.setdefault(finding["rule"], []).append(finding)
    assert set(by_rule) == {"policy/efs-mount-policy", "policy/backup-volume-mechanism"}, by_rule
    return by_rule


# Two faults per copy, one of each rule, so the four cases cost two checks.


def test_efs_class_without_iam_and_schedule_snapshotting_efs(repo_copy: Path, crd_schemas: Path):
    _replace(repo_copy, STORAGE_CLASSES, "mountOptions:\n  - iam\n", "")
    policy = "    resourcePolicy:\n      kind: configmap\n      name: volume-policy\n"
    _replace(repo_copy, BACKUPS, policy, "", start_at="name: workloads-daily")
    errors = _errors(repo_copy, crd_schemas)

    efs = errors["policy/efs-mount-policy"]
    assert {c for f in efs for c in f["clusters"]} == {"production", "staging"}
    for finding in efs:
        assert finding["file"] == STORAGE_CLASSES and finding["object"]["name"] == "efs"
        # without mount options, the line naming the EFS driver (not the object's apiVersion)
        assert finding["line"] == _line(repo_copy, STORAGE_CLASSES, "provisioner:", start_at="# Shared, multi-AZ")
        assert f"{STORAGE_MODULE}:" in finding["message"]

    backup = errors["policy/backup-volume-mechanism"]
    assert {f["object"]["name"] for f in backup} == {"workloads-daily"}
    line = _line(repo_copy, BACKUPS, "snapshotVolumes:", start_at="name: workloads-daily")
    assert {(f["file"], f["line"]) for f in backup} == {(BACKUPS, line)}
    assert all("training/training-checkpoints (StorageClass efs" in f["message"] for f in backup)


def test_efs_node_without_identity_and_velero_without_csi(repo_copy: Path, crd_schemas: Path):
    text = (repo_copy / ROLES).read_text()
    start = text.index('resource "aws_eks_pod_identity_association" "efs_csi_node"')
    end = text.index("}\n", start) + 2
    (repo_copy / ROLES).write_text(text[:start] + text[end:])
    _replace(repo_copy, PLATFORM, ", aws_eks_pod_identity_association.efs_csi_node", "")
    _replace(repo_copy, VELERO_RELEASE, "      features: EnableCSI\n", "")
    errors = _errors(repo_copy, crd_schemas)

    # The policy that admits only IAM principals is the line to read: it names who may mount.
    policy_line = _line(repo_copy, STORAGE_MODULE, 'resource "aws_efs_file_system_policy"')
    efs = errors["policy/efs-mount-policy"]
    assert {(f["file"], f["line"]) for f in efs} == {(STORAGE_MODULE, policy_line)}
    assert all("efs-csi-node-sa" in f["message"] for f in efs)

    backup = errors["policy/backup-volume-mechanism"]
    assert {f["object"]["name"] for f in backup} == {"workloads-daily", "mlops-4h"}  # not cluster-weekly
    line = _line(repo_copy, VELERO_RELEASE, "configuration:")
    assert {(f["file"], f["line"]) for f in backup} == {(VELERO_RELEASE, line)}
