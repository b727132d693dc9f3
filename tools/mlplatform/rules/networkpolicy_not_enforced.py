"""NetworkPolicies in a cluster whose VPC CNI (Terraform) does not run its network-policy agent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..model import Finding, Manifest, Severity
from ..terraform import TerraformConfig, unquote
from ._base import RuleContext

ID = "policy/networkpolicy-not-enforced"
TITLE = "NetworkPolicies that the cluster's CNI does not enforce"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "The API server stores NetworkPolicy objects whether or not anything enforces them. On EKS the VPC CNI "
    "enforces them only when its network-policy agent is on: the add-on's configuration_values must set "
    'enableNetworkPolicy to "true" (EKS User Guide, cni-network-policy-configure; the aws-vpc-cni chart '
    'defaults it to "false"). Without it default-deny, the metadata-endpoint exclusion and namespace isolation '
    "allow everything. The rule reads the vpc-cni add-on in the cluster's Terraform (an `addons` entry of a "
    "module or an aws_eks_addon resource) and reports at its line. Only a real cluster proves the rest: that "
    "the add-on version in use has the agent (VPC CNI 1.14 or later), that the aws-node pods run it (two "
    "containers), that PolicyEndpoints appear and that a denied connection is in fact dropped."
)
REMEDIATION = (
    "Enable the network policy agent of the vpc-cni add-on in Terraform (configuration_values "
    "enableNetworkPolicy: \"true\")."
)
ADDON = "vpc-cni"
SETTING = re.compile(r'"?enableNetworkPolicy"?\s*[=:]\s*(?P<value>"[^"]*"|[A-Za-z]+)')
LOCAL = re.compile(r"\blocal\.([A-Za-z_][A-Za-z0-9_-]*)")
# In-cluster engines that enforce NetworkPolicies themselves (chart names of their HelmReleases).
OTHER_ENFORCERS = frozenset({"cilium", "tigera-operator", "calico"})


@dataclass(frozen=True)
class CniAddon:
    file: str
    line: int
    setting: str | None  # enableNetworkPolicy as written ('"true"', 'true', ...), None when absent


def check(ctx: RuleContext) -> Iterator[Finding]:
    policies = sorted(
        (m for m in ctx.by_kind("NetworkPolicy") if m.ref.api_version.startswith("networking.k8s.io/")),
        key=lambda m: (m.ref.namespace or "", m.ref.name),
    )
    tf = ctx.terraform
    if not policies or tf is None or not tf.files or _other_enforcer(ctx):
        return
    addons = list(_vpc_cni_addons(tf))
    if not addons:
        cluster = _eks_cluster(tf)
        if cluster is not None:
            file, line = cluster
            yield _finding(ctx, policies, file, line,
                           f"Terraform creates the EKS cluster without a {ADDON} add-on, so EKS installs the VPC "
                           "CNI with its network-policy agent off; declare the add-on with "
                           'configuration_values enableNetworkPolicy = "true"')
        return
    for addon in addons:
        value = unquote(addon.setting) if addon.setting is not None else None
        if addon.setting == '"true"':
            continue
        if value == "true":
            why = ('sets enableNetworkPolicy to the boolean true; the add-on\'s configuration schema takes the '
                   'string "true"')
        elif value is None:
            why = 'does not set enableNetworkPolicy = "true" in configuration_values (the agent is off by default)'
        else:
            why = f'sets enableNetworkPolicy to {addon.setting}; it must be "true"'
        yield _finding(ctx, policies, addon.file, addon.line, f"the {ADDON} add-on here {why}")


def _finding(ctx: RuleContext, policies: list[Manifest], file: str, line: int, why: str) -> Finding:
    first = policies[0].ref
    example = f"{first.namespace}/{first.name}" if first.namespace else first.name
    # No cluster name or count in the message: the same Terraform line in every cluster is one finding that
    # lists its clusters (consolidate.py); the object names one policy as an example.
    return Finding(
        ID, SEVERITY,
        f"the NetworkPolicies of this cluster (e.g. {example}) would not be enforced: {why}",
        cluster=ctx.name, file=file, line=line, object=first,
    )


def _other_enforcer(ctx: RuleContext) -> bool:
    for release in ctx.by_kind("HelmRelease"):
        spec = release.obj.get("spec")
        chart = ((spec.get("chart") or {}).get("spec") or {}).get("chart") if isinstance(spec, dict) else None
        if isinstance(chart, str) and chart in OTHER_ENFORCERS:
            return True
    return False


def _vpc_cni_addons(tf: TerraformConfig) -> Iterator[CniAddon]:
    for block in tf.modules():
        directory = block.file.rpartition("/")[0]
        addons = _resolve(tf, directory, block.body.get("addons"))
        if not isinstance(addons, dict):
            continue
        for key, addon in addons.items():
            addon = _resolve(tf, directory, addon)
            if not isinstance(addon, dict) or (unquote(addon.get("name")) or unquote(key)) != ADDON:
                continue
            source = tf.file(block.file)
            key_line = rf'^\s*"?{re.escape(str(unquote(key)))}"?\s*='
            start = source.line_of(key_line, source.block_line("module", block.name))
            yield _addon(tf, directory, block.file, start, addon.get("configuration_values"))
    for block in tf.resources("aws_eks_addon"):
        if unquote(block.body.get("addon_name")) != ADDON:
            continue
        directory = block.file.rpartition("/")[0]
        start = tf.file(block.file).block_line("resource", "aws_eks_addon", block.name)
        yield _addon(tf, directory, block.file, start, block.body.get("configuration_values"))


def _addon(tf: TerraformConfig, directory: str, file: str, start: int, config: Any) -> CniAddon:
    """The add-on at `start`; the finding points at its configuration_values line when it has one."""
    line = tf.file(file).line_of(r"^\s*configuration_values\s*=", start) if config is not None else start
    return CniAddon(file, line, _setting(tf, directory, config, depth=0))


def _setting(tf: TerraformConfig, directory: str, config: Any, depth: int) -> str | None:
    """enableNetworkPolicy as written in an expression (jsonencode object, JSON text, locals it names)."""
    if config is None or depth > 5:
        return None
    if isinstance(config, dict):  # a local holding the object jsonencode() turns into the JSON
        for key, value in config.items():
            if unquote(str(key)) == "enableNetworkPolicy":
                return value if isinstance(value, str) else str(value).lower()
        return None
    text = str(config)
    found = SETTING.search(text)
    if found:
        return found["value"]
    for name in LOCAL.findall(text):
        value = _setting(tf, directory, tf.local(directory, name), depth + 1)
        if value is not None:
            return value
    return None


def _resolve(tf: TerraformConfig, directory: str, value: Any) -> Any:
    """A `${local.x}` reference replaced by the local's value (one level, the common way to share a map)."""
    if isinstance(value, str):
        match = re.fullmatch(r"\$\{local\.([A-Za-z_][A-Za-z0-9_-]*)\}", value)
        if match:
            return tf.local(directory, match[1])
    return value


def _eks_cluster(tf: TerraformConfig) -> tuple[str, int] | None:
    """Where Terraform creates the EKS cluster (terraform-aws-eks module or aws_eks_cluster), if it does."""
    for block in tf.modules():
        if "terraform-aws-eks" in str(unquote(block.body.get("source")) or ""):
            return block.file, tf.file(block.file).block_line("module", block.name)
    for block in tf.resources("aws_eks_cluster"):
        return block.file, tf.file(block.file).block_line("resource", "aws_eks_cluster", block.name)
    return None
