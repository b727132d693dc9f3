"""An EFS StorageClass or PersistentVolume whose mounts the file system policy in Terraform refuses.

Sources (aws-efs-csi-driver v3.4.1, aws/efs-utils v3.2.0, Amazon EFS User Guide):
- With a file system policy in effect, EFS no longer applies its default policy (full access for any anonymous
  client reaching a mount target); a client that mounts without the efs-utils `iam` option is anonymous, so a
  policy that allows no anonymous principal ("*") refuses it ("Using IAM to control access to file systems").
- The driver passes the mountOptions of a StorageClass (through its PVs) or of a PV to efs-utils; `iam` signs
  the mount with the CSI node pod's identity (docs/parameters.md), kube-system:efs-csi-node-sa (chart values
  node.serviceAccount.name).
- TLS: pkg/driver/node.go adds `tls` to every access-point mount and, unless the volume attribute
  encryptInTransit is "false", to every other mount. Dynamic provisioning always creates access points
  (provisioningMode efs-ap; pkg/driver/controller.go puts no encryptInTransit in the volume context), so a
  StorageClass always mounts with TLS; only a static PV without an access point and with encryptInTransit
  "false" mounts in plain NFS, which a policy denying aws:SecureTransport=false refuses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..iam import policy_of
from ..model import Finding, Manifest, Severity
from ..provenance import field_line
from ..terraform import unquote
from ._base import RuleContext, as_dict, as_list

ID = "policy/efs-mount-policy"
TITLE = "EFS volume whose mounts the file system policy refuses"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "An EFS file system policy (aws_efs_file_system_policy in the cluster's Terraform) that admits no "
    "anonymous principal refuses every mount made without IAM authorization, and one that denies "
    "aws:SecureTransport=false refuses plain NFS: pods with such a volume stay in ContainerCreating. Every "
    "StorageClass and PersistentVolume of the EFS CSI driver must then mount with `iam` (efs-utils signs with "
    "the CSI node pod's identity, kube-system/efs-csi-node-sa, to which Terraform must give a role through Pod "
    "Identity or IRSA), and a static PV must not turn TLS off (StorageClasses cannot: the driver mounts access "
    "points with TLS). Offline we read the policy document, the objects and whether Terraform names the node "
    "service account; that the policy names the very role the node assumes, and that a mount succeeds, only "
    "`terraform plan` and a real mount on AWS prove. With several file systems, the strictest readable policy "
    "applies to every EFS volume. A policy built with jsonencode() or taken from a variable cannot be evaluated "
    "offline and is not checked."
)
REMEDIATION = (
    "Allow the node role's mounts in the EFS file system policy (Terraform), or mount with the access the"
    " policy grants."
)

DRIVER = "efs.csi.aws.com"
NODE_SERVICE_ACCOUNT = "efs-csi-node-sa"
CLIENT_MOUNT = "elasticfilesystem:ClientMount"


@dataclass
class EfsPolicy:
    file: str
    line: int
    requires_iam: bool  # no statement allows an anonymous client to mount
    requires_tls: bool  # a Deny on aws:SecureTransport=false covers mounts


def _policies(ctx: RuleContext) -> list[EfsPolicy]:
    tf = ctx.terraform
    if tf is None:
        return []
    found = []
    for block in tf.resources("aws_efs_file_system_policy"):
        statements = policy_of(tf, block)
        if statements is None:
            continue
        anonymous_mount = any(
            s.effect == "Allow" and s.anonymous and s.covers(CLIENT_MOUNT) for s in statements
        )
        tls = False
        for s in statements:
            secure = s.condition("aws:SecureTransport")
            if s.effect == "Deny" and s.anonymous and s.covers(CLIENT_MOUNT) and secure is not None:
                tls = tls or "false" in (v.lower() for v in secure.values)
        line = tf.file(block.file).block_line("resource", *block.labels)
        found.append(EfsPolicy(block.file, line, requires_iam=not anonymous_mount, requires_tls=tls))
    return found


def _names_service_account(value: Any) -> bool:
    """Whether a parsed Terraform value holds `service_account = "efs-csi-node-sa"` at any depth."""
    if isinstance(value, dict):
        if unquote(value.get("service_account")) == NODE_SERVICE_ACCOUNT:
            return True
        return any(_names_service_account(v) for v in value.values())
    if isinstance(value, list):
        return any(_names_service_account(v) for v in value)
    return False


def _node_identity_declared(ctx: RuleContext) -> bool:
    """Whether Terraform gives kube-system/efs-csi-node-sa a role: a Pod Identity association for it (its own
    resource, an add-on's pod_identity_association block, or an entry of the EKS module's addons map), or an
    IRSA role trusting kube-system:efs-csi-node-sa. A trust policy alone does not count: it names the account
    but associates nothing. (For IRSA the service account's annotation, set through the add-on's configuration
    values, is not verified.)"""
    tf = ctx.terraform
    if tf is None:
        return False
    blocks = [*tf.blocks("resource"), *tf.blocks("module")]
    if any(_names_service_account(block.body) for block in blocks):
        return True
    return bool(tf.search(rf'^[^#]*"kube-system:{NODE_SERVICE_ACCOUNT}"'))


def _is_efs(manifest: Manifest) -> bool:
    obj = manifest.obj
    if manifest.ref.kind == "StorageClass":
        return obj.get("provisioner") == DRIVER
    csi = as_dict(as_dict(obj.get("spec")).get("csi"))
    return manifest.ref.kind == "PersistentVolume" and csi.get("driver") == DRIVER


def _options_path(manifest: Manifest) -> str:
    """Where a finding about mount options points: the options, or without any, where the volume names its
    driver (the line that makes it an EFS volume), not the object's first line."""
    holder = manifest.obj if manifest.ref.kind == "StorageClass" else as_dict(manifest.obj.get("spec"))
    if manifest.ref.kind == "StorageClass":
        return "mountOptions" if "mountOptions" in holder else "provisioner"
    return "spec.mountOptions" if "mountOptions" in holder else "spec.csi.driver"


def _mount_options(manifest: Manifest) -> set[str]:
    holder = manifest.obj if manifest.ref.kind == "StorageClass" else as_dict(manifest.obj.get("spec"))
    return {str(option).strip().lower() for option in as_list(holder.get("mountOptions"))}


def _plain_nfs(manifest: Manifest) -> bool:
    """Whether the driver mounts this volume without TLS (a static PV only, see the module docstring)."""
    if manifest.ref.kind != "PersistentVolume":
        return False
    csi = as_dict(as_dict(manifest.obj.get("spec")).get("csi"))
    # volumeHandle is fs-id, fs-id:path or fs-id:path:access-point-id (pkg/driver/node.go parseVolumeId)
    parts = str(csi.get("volumeHandle") or "").split(":")
    access_point = len(parts) > 2 and bool(parts[2])
    encrypt = str(as_dict(csi.get("volumeAttributes")).get("encryptInTransit", "true")).strip().lower()
    return not access_point and encrypt == "false"


def _at(finding: Finding | None, line: int) -> Finding | None:
    return None if finding is None else dataclasses.replace(finding, line=line)


def check(ctx: RuleContext) -> Iterator[Finding]:
    volumes = [m for kind in ("StorageClass", "PersistentVolume") for m in ctx.by_kind(kind) if _is_efs(m)]
    if not volumes:
        return
    policies = _policies(ctx)
    iam_policy = next((p for p in policies if p.requires_iam), None)
    tls_policy = next((p for p in policies if p.requires_tls), None)
    if iam_policy is None and tls_policy is None:
        return
    identity = _node_identity_declared(ctx)
    for volume in volumes:
        options = _mount_options(volume)
        options_line = field_line(volume, _options_path(volume))
        what = f"{volume.ref.kind} {volume.ref.name}"
        if iam_policy is not None and "iam" not in options:
            message = (
                f"{what} mounts without the `iam` option, but the EFS file system policy "
                f"({iam_policy.file}:{iam_policy.line}) admits no anonymous client: every mount is refused and "
                f"pods with these volumes stay in ContainerCreating; add `iam` to mountOptions"
            )
            if found := _at(ctx.emit(ID, SEVERITY, volume, message), options_line):
                yield found
        elif iam_policy is not None and not identity:
            message = (
                f"{what} mounts with `iam`, but Terraform gives the EFS CSI node service account "
                f"(kube-system/{NODE_SERVICE_ACCOUNT}) no role: efs-utils falls back to the node instance role, "
                f"which the file system policy at this line must then admit; associate a role with the service "
                f"account (aws_eks_pod_identity_association) and name it in the policy"
            )
            if found := ctx.emit(ID, SEVERITY, volume, message):
                yield dataclasses.replace(found, file=iam_policy.file, line=iam_policy.line)
        if tls_policy is not None and _plain_nfs(volume):
            message = (
                f"{what} sets encryptInTransit \"false\" and mounts no access point, so the driver mounts it in "
                f"plain NFS, but the EFS file system policy ({tls_policy.file}:{tls_policy.line}) denies "
                f"connections without TLS; remove encryptInTransit: \"false\""
            )
            line = field_line(volume, "spec.csi.volumeAttributes.encryptInTransit")
            if found := _at(ctx.emit(ID, SEVERITY, volume, message), line):
                yield found
