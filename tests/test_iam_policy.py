"""Reading IAM policy documents from Terraform (mlplatform.iam): data sources per module, literal JSON, no guesses."""

from __future__ import annotations

from pathlib import Path

from mlplatform.iam import policy_of
from mlplatform.terraform import load_terraform

REPO = Path(__file__).resolve().parents[1]


def _tree(tmp_path: Path, main: str) -> Path:
    env = tmp_path / "terraform" / "environments" / "c1"
    env.mkdir(parents=True)
    (env / "main.tf").write_text(main)
    return tmp_path


def test_this_repository_efs_policy_requires_iam_and_tls():
    tf = load_terraform(REPO, "production")
    [block] = tf.resources("aws_efs_file_system_policy")
    statements = policy_of(tf, block)
    assert statements is not None
    deny = [s for s in statements if s.effect == "Deny"]
    allow = [s for s in statements if s.effect == "Allow"]
    assert deny and deny[0].anonymous and deny[0].condition("aws:securetransport").values == ("false",)
    # mounts are allowed to named roles only (an expression), never to anonymous clients, and never as root
    assert allow and not any(s.anonymous for s in allow)
    assert all(s.covers("elasticfilesystem:ClientMount") for s in allow)
    assert not any(s.covers("elasticfilesystem:ClientRootAccess") for s in allow)


def test_json_principal_star_wildcard_actions_and_conditions(tmp_path: Path):
    main = (
        'resource "aws_efs_file_system_policy" "p" {\n'
        '  policy = "{\\"Statement\\": {\\"Effect\\": \\"Allow\\", \\"Principal\\": \\"*\\", '
        '\\"Action\\": \\"elasticfilesystem:Client*\\", '
        '\\"Condition\\": {\\"Bool\\": {\\"aws:SecureTransport\\": \\"true\\"}}}}"\n'
        "}\n"
    )
    tf = load_terraform(_tree(tmp_path, main), "c1")
    [statement] = policy_of(tf, tf.resources("aws_efs_file_system_policy")[0])
    assert statement.anonymous and statement.effect == "Allow"
    assert statement.covers("elasticfilesystem:ClientWrite") and not statement.covers("s3:GetObject")
    assert statement.condition("aws:SecureTransport").values == ("true",)


def test_expressions_are_not_evaluated(tmp_path: Path):
    main = (
        'resource "aws_efs_file_system_policy" "a" {\n  policy = var.policy\n}\n'
        'resource "aws_efs_file_system_policy" "b" {\n  policy = jsonencode({ Statement = [] })\n}\n'
        'resource "aws_efs_file_system_policy" "c" {\n  policy = data.aws_iam_policy_document.missing.json\n}\n'
        'resource "aws_efs_file_system_policy" "d" {\n  policy = "not json"\n}\n'
    )
    tf = load_terraform(_tree(tmp_path, main), "c1")
    assert [policy_of(tf, b) for b in tf.resources("aws_efs_file_system_policy")] == [None, None, None, None]


def test_malformed_json_statements_are_read_as_far_as_they_go(tmp_path: Path):
    main = (
        'resource "aws_efs_file_system_policy" "p" {\n'
        '  policy = "{\\"Statement\\": [1, {\\"Principal\\": [\\"x\\"], \\"Condition\\": [\\"y\\"], '
        '\\"Action\\": {\\"a\\": 1}}]}"\n'
        "}\n"
    )
    tf = load_terraform(_tree(tmp_path, main), "c1")
    [statement] = policy_of(tf, tf.resources("aws_efs_file_system_policy")[0])
    assert statement.effect == "Allow" and statement.principals == [] and statement.conditions == []
