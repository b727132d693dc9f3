"""A Velero backup schedule asking for volume data that nothing configured can take.

Sources (vmware-tanzu/velero v1.18.1, vmware-tanzu/helm-charts velero 12.1.0, velero-plugin-for-aws v1.14.2):
- snapshotVolumes unset or true asks for volume data (internal/volumehelper ShouldPerformSnapshot).
- CSI snapshots run only with the EnableCSI feature flag (pkg/util/csi/util.go ShouldSkipAction), which the
  chart passes from configuration.features (templates/deployment.yaml), and need a VolumeSnapshotClass of the
  volume's driver labelled velero.io/csi-volumesnapshot-class: "true"; without one the PVC fails and the
  backup ends PartiallyFailed (pkg/backup/actions/csi/pvc_action.go).
- Without CSI, a VolumeSnapshotLocation's plugin must know the volume: the AWS plugin snapshots EBS only
  (in-tree and ebs.csi.aws.com, plugin README); with no plugin that knows it, the PV is recorded as skipped,
  "no applicable volumesnapshotter found" (pkg/backup/item_backupper.go), and the backup still completes.
- File-system backup needs the node agent (chart deployNodeAgent).
- A volume policy (spec.resourcePolicy -> ConfigMap with one key, docs v1.18 resource-filtering.md) decides
  per volume first: skip, snapshot, fs-backup or custom; the first matching policy wins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..model import Finding, Manifest, Severity
from ..provenance import field_line
from ..yamlio import iter_documents, plain
from ._base import RuleContext, as_dict, as_list

ID = "policy/backup-volume-mechanism"
TITLE = "Backup schedule asks for volume data nothing configured can take"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "A Velero Schedule (or Backup) with snapshotVolumes true or unset asks for its volumes' data. Velero takes "
    "it as CSI snapshots only with the EnableCSI feature (Velero HelmRelease values configuration.features) and "
    "a VolumeSnapshotClass of the volume's driver labelled velero.io/csi-volumesnapshot-class: \"true\"; through "
    "a VolumeSnapshotLocation whose plugin knows the volume (the AWS plugin: EBS only); or by file-system backup "
    "with the node agent (deployNodeAgent). With none of them the backup reports Completed and holds no volume "
    "data; with CSI on and a volume of a driver without such a class (EFS has no CSI snapshots), it ends "
    "PartiallyFailed. A volume policy (spec.template.resourcePolicy) that skips those volumes, or sends them to "
    "fs-backup with the node agent deployed, settles it. Offline we read the chart values, the rendered classes, "
    "PVCs and StatefulSet claim templates; PVCs created by charts or outside git are not seen, values from "
    "valuesFrom are not read, and schedules narrowed by label or resource filters are only checked for a "
    "mechanism. That a snapshot is taken and restores, only a backup and a restore drill on a real cluster prove."
)
REMEDIATION = (
    "Configure volume snapshots (a VolumeSnapshotClass for the CSI driver) or the Velero node agent, or "
    "exclude volumes from the schedule."
)

CSI_LABEL = "velero.io/csi-volumesnapshot-class"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
ALL = "*"
# Drivers a VolumeSnapshotLocation's plugin snapshots (velero-plugin-for-aws README: EBS, in-tree and CSI).
PLUGIN_DRIVERS = {
    "aws": {"ebs.csi.aws.com", "kubernetes.io/aws-ebs"},
    "velero.io/aws": {"ebs.csi.aws.com", "kubernetes.io/aws-ebs"},
}
# Filters that narrow which PVCs a backup holds in ways we do not evaluate.
_NARROWING = (
    "labelSelector",
    "orLabelSelectors",
    "includedResources",
    "excludedResources",
    "includedNamespaceScopedResources",
    "excludedNamespaceScopedResources",
)


@dataclass
class Velero:
    release: Manifest
    csi: bool
    node_agent: bool
    locations: list[str] = field(default_factory=list)  # VolumeSnapshotLocation providers

    def drivers(self, labelled: set[str]) -> set[str]:
        """The drivers whose volumes some mechanism can take (ALL when one takes any volume)."""
        covered = set(labelled) if self.csi else set()
        for provider in self.locations:
            covered |= PLUGIN_DRIVERS.get(provider, {ALL})
        if self.node_agent:
            covered.add(ALL)
        return covered

    def missing(self) -> str:
        return (
            "no EnableCSI in configuration.features, no VolumeSnapshotLocation, no node agent (deployNodeAgent)"
            if not self.csi
            else f"EnableCSI is on but no VolumeSnapshotClass is labelled {CSI_LABEL}: \"true\", "
            "no VolumeSnapshotLocation, no node agent"
        )


def _velero(ctx: RuleContext) -> Velero | None:
    """The Velero HelmRelease's mechanisms, or None without one or with values we cannot read (valuesFrom)."""
    for release in ctx.by_kind("HelmRelease"):
        spec = as_dict(release.obj.get("spec"))
        if as_dict(as_dict(spec.get("chart")).get("spec")).get("chart") != "velero":
            continue
        if spec.get("valuesFrom"):
            return None
        values = as_dict(spec.get("values"))
        configuration = as_dict(values.get("configuration"))
        features = {f.strip() for f in str(configuration.get("features") or "").split(",")}
        locations = []
        if values.get("snapshotsEnabled", True) is not False:
            locations = [
                str(as_dict(item).get("provider") or "")
                for item in as_list(configuration.get("volumeSnapshotLocation"))
                if as_dict(item).get("provider")
            ]
        locations += [
            str(as_dict(m.obj.get("spec")).get("provider") or "")
            for m in ctx.by_kind("VolumeSnapshotLocation")
            if m.ref.group == "velero.io"
        ]
        return Velero(release, "EnableCSI" in features, values.get("deployNodeAgent") is True, locations)
    return None


def _labelled_drivers(ctx: RuleContext) -> set[str]:
    return {
        str(m.obj.get("driver"))
        for m in ctx.by_kind("VolumeSnapshotClass")
        if str(m.labels.get(CSI_LABEL, "")).lower() == "true" and m.obj.get("driver")
    }


def _claims(ctx: RuleContext) -> list[tuple[str, str, Manifest, str | None]]:
    """(namespace, claim, object, storageClassName or None for the default) of the rendered PVCs and
    StatefulSet claim templates."""
    found = []
    for pvc in ctx.by_kind("PersistentVolumeClaim"):
        spec = as_dict(pvc.obj.get("spec"))
        found.append((pvc.ref.namespace or "default", pvc.ref.name, pvc, spec.get("storageClassName")))
    for sts in ctx.by_kind("StatefulSet"):
        for template in as_list(as_dict(sts.obj.get("spec")).get("volumeClaimTemplates")):
            template = as_dict(template)
            name = f"{as_dict(template.get('metadata')).get('name')}-{sts.ref.name}-*"
            class_name = as_dict(template.get("spec")).get("storageClassName")
            found.append((sts.ref.namespace or "default", name, sts, class_name))
    return found


@dataclass
class VolumePolicy:
    policies: list[dict[str, Any]] | None  # None: referenced but unreadable, or not found
    problem: str = ""

    def action(self, class_name: str, driver: str) -> str | None:
        """The action of the first policy that matches, "unknown" when a condition we do not evaluate
        decides, None when none matches (the schedule's snapshotVolumes then decides)."""
        for policy in self.policies or []:
            conditions = as_dict(as_dict(policy).get("conditions"))
            if set(conditions) - {"storageClass", "csi"}:
                return "unknown"
            classes = [str(c) for c in as_list(conditions.get("storageClass"))]
            if "storageClass" in conditions and class_name not in classes:
                continue
            if "csi" in conditions:
                wanted = as_dict(conditions["csi"]).get("driver")
                if driver.startswith("kubernetes.io/") or (wanted and wanted != driver):
                    continue
            return str(as_dict(as_dict(policy).get("action")).get("type") or "unknown")
        return None


def _volume_policy(ctx: RuleContext, schedule: Manifest, spec: dict[str, Any]) -> VolumePolicy:
    ref = spec.get("resourcePolicy")
    if not ref:
        return VolumePolicy([])
    name = as_dict(ref).get("name")
    for cm in ctx.by_kind("ConfigMap"):
        if cm.ref.name == name and cm.ref.namespace == schedule.ref.namespace:
            data = as_dict(cm.obj.get("data"))
            if len(data) != 1:
                return VolumePolicy(None, f"ConfigMap {name} must hold exactly one key, Velero rejects it")
            try:  # the project's loader: bounded against alias bombs, like every YAML we read
                documents = [plain(d.data) for d in iter_documents(str(next(iter(data.values()))))]
            except (yaml.YAMLError, RecursionError):
                return VolumePolicy(None, f"ConfigMap {name} does not hold YAML, Velero rejects it")
            document = documents[0] if documents else None
            return VolumePolicy(as_list(as_dict(document).get("volumePolicies")))
    return VolumePolicy(None, f"names volume policy ConfigMap {name}, which the cluster does not define")


def _backups(ctx: RuleContext) -> Iterator[tuple[Manifest, dict[str, Any], str]]:
    """(object, backup spec, path of the spec) of every Velero Schedule and Backup."""
    for schedule in ctx.by_kind("Schedule"):
        if schedule.ref.group == "velero.io":
            yield schedule, as_dict(as_dict(schedule.obj.get("spec")).get("template")), "spec.template"
    for backup in ctx.by_kind("Backup"):
        if backup.ref.group == "velero.io":
            yield backup, as_dict(backup.obj.get("spec")), "spec"


def _in_scope(namespace: str, spec: dict[str, Any]) -> bool:
    included = [str(n) for n in as_list(spec.get("includedNamespaces"))] or [ALL]
    excluded = [str(n) for n in as_list(spec.get("excludedNamespaces"))]
    return (ALL in included or namespace in included) and namespace not in excluded


def check(ctx: RuleContext) -> Iterator[Finding]:
    backups = [(m, spec, path) for m, spec, path in _backups(ctx) if spec.get("snapshotVolumes") is not False]
    if not backups:
        return
    velero = _velero(ctx)
    if velero is None:
        return
    covered = velero.drivers(_labelled_drivers(ctx))
    classes = {m.ref.name: m for m in ctx.by_kind("StorageClass")}
    default = next(
        (n for n, m in classes.items() if str(m.annotations.get(DEFAULT_CLASS_ANNOTATION, "")).lower() == "true"),
        None,
    )
    values_line = field_line(velero.release, "spec.values.configuration.features")
    for backup, spec, path in backups:
        what = f"{backup.ref.kind} {backup.ref.namespace}/{backup.ref.name}"
        asks = "snapshotVolumes: true" if spec.get("snapshotVolumes") is True else "snapshotVolumes unset"
        line = field_line(backup, f"{path}.snapshotVolumes")
        if not covered:
            message = (
                f"{what} asks for volume data ({asks}), but HelmRelease {velero.release.ref.namespace}/"
                f"{velero.release.ref.name} configures nothing that can take it ({velero.missing()}): its backups "
                f"complete without any volume data; enable CSI snapshots here, or set snapshotVolumes: false"
            )
            if found := ctx.emit(ID, SEVERITY, backup, message):
                yield dataclasses.replace(found, file=velero.release.source.file, line=values_line)
            continue
        policy = _volume_policy(ctx, backup, spec)
        if policy.policies is None:
            message = f"{what} {policy.problem}: its backups fail validation"
            if found := ctx.emit(ID, SEVERITY, backup, message):
                yield dataclasses.replace(found, line=field_line(backup, f"{path}.resourcePolicy"))
            continue
        if ALL in covered or any(spec.get(key) for key in _NARROWING):
            continue
        untaken = []
        for namespace, claim, _, class_name in _claims(ctx):
            class_name = default if class_name is None else class_name
            sc = classes.get(class_name or "")
            if not _in_scope(namespace, spec) or sc is None:
                continue
            driver = str(sc.obj.get("provisioner") or "")
            action = policy.action(sc.ref.name, driver)
            if action in ("skip", "custom", "unknown"):
                continue
            where = f"{namespace}/{claim} (StorageClass {sc.ref.name}, driver {driver}"
            if action == "fs-backup":  # the volume policy sends it to file-system backup: the node agent's job
                if not velero.node_agent:
                    untaken.append(f"{where}, volume policy fs-backup)")
                continue
            if driver not in covered:
                untaken.append(f"{where})")
        if untaken:
            message = (
                f"{what} asks for volume data ({asks}) of PVCs that no configured mechanism can take: "
                f"{', '.join(sorted(untaken))}; no VolumeSnapshotClass labelled {CSI_LABEL}: \"true\" exists for "
                f"their driver, no VolumeSnapshotLocation plugin knows it and no node agent runs, so Velero "
                f"fails or skips them; skip them in a volume policy ({path}.resourcePolicy) and back them up "
                f"another way, or provide a mechanism"
            )
            if found := ctx.emit(ID, SEVERITY, backup, message):
                yield dataclasses.replace(found, line=line)
