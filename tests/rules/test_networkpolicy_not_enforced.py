"""Rule networkpolicy-not-enforced: the fixtures, and each way Terraform can leave the agent off or turn it on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rulekit import fixture_dir, fixture_findings, load_fixture, run_rule

from mlplatform.model import Manifest, Provenance

RULE = "policy/networkpolicy-not-enforced"
FIXTURES = fixture_dir(RULE)
MODULE = '''module "eks" {{
  source = "git::https://github.com/terraform-aws-modules/terraform-aws-eks.git?ref=bef29c4d9523523e57fe898643fde2895106b339"
  name   = "production"
{body}
}}
'''


def test_good_and_bad(good_and_bad):
    (finding,) = good_and_bad(RULE)
    # At the line a person changes: the add-on's configuration_values in the Terraform, naming the policy.
    assert finding.file == "terraform/environments/production/main.tf" and finding.line == 10
    assert "inference/bad-default-deny-all" in finding.message and "enableNetworkPolicy" in finding.message
    assert finding.object.kind == "NetworkPolicy"


def _manifests(text: str) -> list[Manifest]:
    return [Manifest("production", doc, Provenance("inline.yaml", 1)) for doc in yaml.safe_load_all(text) if doc]


def _run(tmp_path: Path, main_tf: str, manifests: list[Manifest] | None = None):
    env = tmp_path / "terraform" / "environments" / "production"
    env.mkdir(parents=True)
    (env / "main.tf").write_text(main_tf)
    return run_rule(RULE, manifests or load_fixture(FIXTURES / "bad" / "manifests.yaml"), repo=tmp_path)


@pytest.mark.parametrize(
    ("body", "line", "says"),
    [
        # EKS installs its default VPC CNI, agent off, when Terraform declares no vpc-cni add-on.
        ("  addons = { kube-proxy = {} }", 1, "without a vpc-cni add-on"),
        # Off on purpose.
        ('  addons = {\n    vpc-cni = {\n      configuration_values = jsonencode({ enableNetworkPolicy = "false" })\n'
         "    }\n  }", 6, '"false"'),
        # A boolean where the add-on schema takes the string "true".
        ("  addons = {\n    vpc-cni = {\n      configuration_values = jsonencode({ enableNetworkPolicy = true })\n"
         "    }\n  }", 6, 'string "true"'),
        # The add-on declared with no configuration at all: the line of the add-on itself.
        ("  addons = {\n    vpc-cni = { before_compute = true }\n  }", 5, "does not set"),
    ],
)
def test_module_addon_without_the_agent(tmp_path: Path, body: str, line: int, says: str) -> None:
    (finding,) = _run(tmp_path, MODULE.format(body=body))
    assert (finding.file, finding.line) == ("terraform/environments/production/main.tf", line)
    assert says in finding.message


def test_addon_resource_with_json_text(tmp_path: Path) -> None:
    on = 'resource "aws_eks_addon" "cni" {\n  addon_name = "vpc-cni"\n  configuration_values = <<-EOT\n' \
         '    {"enableNetworkPolicy": "true"}\n  EOT\n}\n'
    assert _run(tmp_path / "on", on) == []
    off = on.replace('"true"}', '"false"}')
    (finding,) = _run(tmp_path / "off", off)
    assert finding.line == 3 and '"false"' in finding.message


def test_silent_without_policies_or_terraform_or_with_another_enforcer(tmp_path: Path) -> None:
    off = MODULE.format(body="  addons = { vpc-cni = {} }")
    no_policies = _manifests("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: inference}\n")
    assert _run(tmp_path / "a", off, no_policies) == []
    # No Terraform for the cluster: nothing to read, nothing to say.
    assert run_rule(RULE, load_fixture(FIXTURES / "bad" / "manifests.yaml"), repo=tmp_path / "none") == []
    # Cilium enforces the policies itself.
    cilium = _manifests((FIXTURES / "bad" / "manifests.yaml").read_text() + (
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
        "metadata: {name: cilium, namespace: kube-system}\n"
        "spec:\n  chart:\n    spec: {chart: cilium, version: 1.18.0, sourceRef: {kind: HelmRepository, name: cilium}}\n"
    ))
    assert _run(tmp_path / "b", off, cilium) == []


def test_repository_terraform_enables_the_agent() -> None:
    from mlplatform.rules.networkpolicy_not_enforced import _vpc_cni_addons
    from mlplatform.terraform import load_terraform

    repo = Path(__file__).resolve().parents[2]
    for cluster in ("production", "staging"):
        (addon,) = _vpc_cni_addons(load_terraform(repo, cluster))
        assert addon.setting == '"true"' and addon.file == "terraform/modules/platform/main.tf"


def test_fixture_findings_name_the_cluster() -> None:
    _, findings = fixture_findings(RULE, "bad")
    assert [f.cluster for f in findings] == ["production"]
