"""Rule efs-mount-policy: EFS volumes against the file system policy in Terraform (fixtures/efs-mount-policy/)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rulekit import fixture_dir, fixture_findings, load_fixture, run_rule

RULE = "policy/efs-mount-policy"
GOOD = fixture_dir(RULE) / "good"
POLICY_FILE = "terraform/modules/storage/main.tf"


def _line(path: Path, text: str, start: int = 1) -> int:
    lines = path.read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if n >= start and text in line)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A writable copy of the good repository tree (the rule reads Terraform relative to it)."""
    target = tmp_path / "repo"
    shutil.copytree(GOOD, target)
    return target


def _run(tree: Path) -> list:
    """The good manifests against the (edited) copy's Terraform."""
    return run_rule(RULE, load_fixture(GOOD / "manifests.yaml"), repo=tree)


def test_good_and_bad(good_and_bad):
    bad = good_and_bad(RULE)
    assert {f.object.name for f in bad} == {"bad-no-iam", "bad-other-options", "bad-plain-nfs", "bad-pv-no-iam"}


def test_findings_name_the_policy_and_point_at_the_field():
    _, findings = fixture_findings(RULE, "bad")
    manifests = fixture_dir(RULE) / "bad" / "manifests.yaml"
    policy = fixture_dir(RULE) / "bad" / POLICY_FILE
    policy_line = _line(policy, 'resource "aws_efs_file_system_policy"')
    by_name = {f.object.name: f for f in findings}
    # The policy is the module's (the environment's same-named document admits anyone and must not be used).
    assert f"{POLICY_FILE}:{policy_line}" in by_name["bad-no-iam"].message
    assert "`iam`" in by_name["bad-no-iam"].message and "ContainerCreating" in by_name["bad-no-iam"].message
    # With mount options, the finding is on them; without, on the line naming the EFS driver.
    assert by_name["bad-other-options"].line == _line(manifests, "mountOptions:", _line(manifests, "bad-other-options"))
    assert by_name["bad-no-iam"].line == _line(manifests, "provisioner:", _line(manifests, "bad-no-iam"))
    plain = by_name["bad-plain-nfs"]
    assert "TLS" in plain.message and plain.file.endswith("bad/manifests.yaml")
    assert plain.line == _line(manifests, "encryptInTransit:")


def test_node_without_identity_is_reported_at_the_policy(tree: Path):
    main = tree / "terraform/environments/production/main.tf"
    text = main.read_text()
    start = text.index('resource "aws_eks_pod_identity_association"')
    main.write_text(text[:start])  # the role and its trust policy (which names the account) stay
    findings = _run(tree)
    assert {f.object.name for f in findings} == {"efs", "datasets-ap", "datasets-root"}
    for finding in findings:
        assert finding.file == POLICY_FILE
        assert finding.line == _line(tree / POLICY_FILE, 'resource "aws_efs_file_system_policy"')
        assert "efs-csi-node-sa" in finding.message and "no role" in finding.message


@pytest.mark.parametrize(
    "association",
    [
        # an add-on's own association block
        'resource "aws_eks_addon" "efs" {\n  addon_name = "aws-efs-csi-driver"\n'
        '  pod_identity_association {\n    role_arn        = "arn:aws:iam::1:role/x"\n'
        '    service_account = "efs-csi-node-sa"\n  }\n}\n',
        # an IRSA role trusting the node service account
        'module "role" {\n  source = "git::https://example.com/iam.git?ref=abc"\n'
        '  oidc_providers = { this = { namespace_service_accounts = ["kube-system:efs-csi-node-sa"] } }\n}\n',
    ],
)
def test_other_ways_to_give_the_node_a_role(tree: Path, association: str):
    main = tree / "terraform/environments/production/main.tf"
    text = main.read_text()
    main.write_text(text[: text.index('resource "aws_eks_pod_identity_association"')] + association)
    assert _run(tree) == []


def test_a_policy_admitting_anonymous_clients_needs_no_iam(tree: Path):
    policy = tree / POLICY_FILE
    policy.write_text(policy.read_text().replace("identifiers = var.client_role_arns", 'identifiers = ["*"]'))
    manifests = load_fixture(fixture_dir(RULE) / "bad" / "manifests.yaml")
    findings = run_rule(RULE, manifests, repo=tree)
    # IAM is optional now; TLS is still required, so only the plain-NFS volume is left.
    assert {f.object.name for f in findings} == {"bad-plain-nfs"}


def test_no_file_system_policy_means_the_default_one(tree: Path):
    policy = tree / POLICY_FILE
    text = policy.read_text()
    policy.write_text(text[: text.index('resource "aws_efs_file_system_policy"')])
    manifests = load_fixture(fixture_dir(RULE) / "bad" / "manifests.yaml")
    assert run_rule(RULE, manifests, repo=tree) == []


def test_a_policy_it_cannot_evaluate_is_not_guessed(tree: Path):
    policy = tree / POLICY_FILE
    policy.write_text(
        policy.read_text().replace(
            "policy         = data.aws_iam_policy_document.efs.json",
            "policy         = jsonencode({ Statement = [] })",
        )
    )
    manifests = load_fixture(fixture_dir(RULE) / "bad" / "manifests.yaml")
    assert run_rule(RULE, manifests, repo=tree) == []


def test_a_literal_json_policy_is_read(tree: Path):
    policy = tree / POLICY_FILE
    text = policy.read_text()
    heredoc = (
        "<<EOF\n"
        '{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/node"},\n'
        '  "Action": "elasticfilesystem:Client*", "Resource": "*"}]}\n'
        "EOF"
    )
    policy.write_text(text.replace("data.aws_iam_policy_document.efs.json", heredoc))
    manifests = load_fixture(fixture_dir(RULE) / "bad" / "manifests.yaml")
    findings = run_rule(RULE, manifests, repo=tree)
    # IAM required (no anonymous allow), TLS not (no Deny on aws:SecureTransport).
    assert {f.object.name for f in findings} == {"bad-no-iam", "bad-other-options", "bad-pv-no-iam"}


def test_exemption_with_reason(tree: Path):
    manifests = load_fixture(fixture_dir(RULE) / "bad" / "manifests.yaml")
    target = next(m for m in manifests if m.ref.name == "bad-no-iam")
    key = f"mlplatform.example.com/exempt-{RULE.split('/', 1)[1]}"
    target.obj["metadata"]["annotations"] = {key: "mounted by a legacy node"}
    findings = run_rule(RULE, manifests, repo=fixture_dir(RULE) / "bad")
    assert "bad-no-iam" not in {f.object.name for f in findings}


def test_without_terraform_the_rule_is_silent(tmp_path: Path):
    manifests = load_fixture(fixture_dir(RULE) / "bad" / "manifests.yaml")
    assert run_rule(RULE, manifests, repo=tmp_path) == []
