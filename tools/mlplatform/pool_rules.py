"""Semantic checks of a pool file against the catalog (instance types, MIG geometry, labels, taints, sizes).

pools.py already refused structurally broken files (wrong types, missing keys, duplicate keys); what remains
are mistakes that parse but would make a broken cluster: an instance type the catalog does not know, a MIG
layout NVIDIA cannot place, a label Kubernetes rejects, a GPU pool the GPU stack cannot configure. Each
check is one small function yielding findings; every finding names the pool file and the line of the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from .catalog import Catalog, GpuModel
from .mig import validate_layout
from .model import (
    CAPACITY_TYPES,
    DEVICE_PLUGIN_LABEL,
    MIG_CONFIG_LABEL,
    SHARING_MODES,
    TAINT_EFFECTS,
    CapacityType,
    Finding,
    Pool,
    PoolFile,
    Severity,
    SharingMode,
)
from .pools import POOL_KEYS
from .suggest import closest
from .zones import ZONE_ID, ZONE_NAME

POOL_LABEL = "mlplatform.example.com/pool"
# cluster-autoscaler's AWS provider: a node with this label counts as unready until it advertises a GPU
# resource (kubernetes/autoscaler cluster-autoscaler-1.34.5, cloudprovider/aws/aws_cloud_provider.go GPULabel;
# processors/customresources/gpu_processor.go; utils/gpu/gpu.go GPUVendorResourceNames: nvidia.com/gpu, not
# nvidia.com/mig-*).
AUTOSCALER_GPU_LABEL = "k8s.amazonaws.com/accelerator"
# Selects the EFA device plugin onto EFA pools (infrastructure/controllers/base/aws-efa-device-plugin).
EFA_LABEL = "mlplatform.example.com/efa"
CAPACITY_BLOCK = "capacity-block"
CAPACITY_RESERVATION_KEYS = frozenset({"id", "resource_group_arn", "market_type"})
# EC2 ids: "cr-" and 8 or 17 hex digits; a Capacity Reservation group is an AWS Resource Groups group.
CAPACITY_RESERVATION_ID = re.compile(r"^cr-([0-9a-f]{8}|[0-9a-f]{17})$")
RESOURCE_GROUP_ARN = re.compile(
    r"^arn:aws[a-z-]*:resource-groups:(?P<region>[a-z0-9-]+):\d{12}:group/[A-Za-z0-9_.-]{1,300}$"
)
# Fields Terraform and the tools read; anything else is most likely a typo of one of them.
KNOWN_FIELDS = frozenset(POOL_KEYS)
# EKS managed node group names: 1-63 characters, a letter or digit first, then letters, digits, '-' and '_'
# (CreateNodegroup API). The name is also the value of the pool label, which allows the same set.
NODE_GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
# Kubernetes label syntax (apimachinery validation IsQualifiedName / IsValidLabelValue).
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
QUALIFIED_NAME = re.compile(rf"^{_NAME}$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(rf"^({_NAME})?$")
# kubelet refuses to register a node with labels in these namespaces unless allow-listed (NodeRestriction);
# node.kubernetes.io/ and node-restriction.kubernetes.io/ are the allowed ones.
RESERVED_LABEL_SUFFIXES = ("kubernetes.io", "k8s.io")
ALLOWED_RESERVED_PREFIXES = ("node.kubernetes.io", "node-restriction.kubernetes.io")
KUBERNETES_VERSION = re.compile(r"^1\.\d{2}$")
MIN_DISK_SIZE_GIB = 20  # the AL2023 AMIs need about this much for the OS and the image cache


@dataclass(frozen=True)
class PoolRule:
    id: str
    severity: Severity
    title: str
    remediation: str
    # Why it matters on a real cluster (the catalog's description): never the title again in other words.
    why: str

    @property
    def rationale(self) -> str:
        return self.why


# Every pool-file rule; rulecatalog collects them (ids `pool/<name>`).
RULES: dict[str, PoolRule] = {r.id: r for r in (
    PoolRule("pool/file", Severity.ERROR, "cluster name and Kubernetes version of the pool file",
             "Set cluster to the directory's name and kubernetes_version to a minor version such as '1.34'.",
             "The cluster name picks the environment whose Terraform reads the file; the Kubernetes version picks "
             "the API schemas every manifest of the cluster is validated against."),
    PoolRule("pool/name", Severity.ERROR, "pool name is a valid EKS node group name",
             "Rename the pool: 1-63 letters, digits, '-' or '_', starting with a letter or digit.",
             "EKS CreateNodegroup refuses other names, and the name is also the pool label's value."),
    PoolRule("pool/unknown-field", Severity.WARNING, "field that neither Terraform nor the tools read",
             "Fix the spelling to a known field (docs/pools.md) or remove it.",
             "A field nobody reads is most likely a typo of one that matters."),
    PoolRule("pool/instance-type-unknown", Severity.ERROR, "instance type is in the catalog",
             "Use an instance type from tools/mlplatform/data (or add it there with its source).",
             "The plan, the GPU geometry and the prices come from the catalog, each with its source and date; a "
             "type missing from it cannot be planned or priced, and is most often a typo."),
    PoolRule("pool/instance-types-mixed", Severity.ERROR, "all instance types of a pool have the same GPUs",
             "Split the pool so each holds instance types with one GPU model and count.",
             "The device plugin config and the scheduler's view assume one GPU shape per pool."),
    PoolRule("pool/gpu-instance-mismatch", Severity.ERROR, "GPU pools on GPU instances only",
             "Remove the gpu section from a CPU pool, or use GPU instance types.",
             "A gpu section on an instance without GPUs makes the generated device-plugin and MIG configs, the "
             "rules and the plan count GPUs that no node has."),
    PoolRule("pool/sharing", Severity.ERROR, "GPU sharing mode is none, time-slicing or mig",
             "Set gpu.sharing to none, time-slicing or mig.",
             "The mode decides the generated device-plugin config, the MIG layout and how the plan counts GPU "
             "units; any other value is read by none of them."),
    PoolRule("pool/timeslice-replicas", Severity.ERROR, "time-slicing replicas are set and at least 2",
             "Set gpu.replicas to 2 or more, or use sharing: none.",
             "A time-sliced GPU is advertised as `replicas` units; without a count, or with 1, nothing is shared "
             "and the generated config and the plan disagree on how many pods a GPU takes."),
    PoolRule("pool/replicas-not-timeslicing", Severity.ERROR, "replicas only on time-sliced pools",
             "Remove gpu.replicas or set sharing: time-slicing.",
             "Only time-slicing reads gpu.replicas; on another pool the count is a mistake that nothing honours."),
    PoolRule("pool/mig-unsupported", Severity.ERROR, "MIG only on GPUs that support it",
             "Use time-slicing or none on this GPU model, or a MIG-capable instance type.",
             "mig-manager can partition only MIG-capable GPUs (A100, A30, H100 and later data-centre parts); on "
             "others the pool advertises no MIG resources and every MIG pod stays Pending."),
    PoolRule("pool/mig-profile-unknown", Severity.ERROR, "MIG profiles exist on the pool's GPU model",
             "Use profiles the GPU model offers (docs/facts.md).",
             "Profile names depend on the GPU's memory (1g.10gb on 80 GB parts, 1g.5gb on 40 GB); mig-manager "
             "cannot apply a layout with a profile the GPU lacks and the node keeps no usable layout."),
    PoolRule("pool/mig-layout", Severity.ERROR, "MIG layout can be placed on one GPU",
             "Choose a layout NVIDIA's placement rules allow on one GPU (mlplatform explains the slots).",
             "NVIDIA's placement rules (memory slices and allowed start positions) decide which combinations fit "
             "on one GPU; mig-parted cannot apply a layout that does not fit."),
    PoolRule("pool/label-key", Severity.ERROR, "label keys are valid Kubernetes label keys",
             "Fix the label key (prefix/name, 63 characters per name).",
             "EKS refuses a node group with an invalid label key, and no selector could match it."),
    PoolRule("pool/label-value", Severity.ERROR, "label values are single valid Kubernetes label values",
             "Fix the label value (63 characters, alphanumerics, '-', '_', '.').",
             "EKS refuses a node group with an invalid label value; one key holds one value, so a list there "
             "selects nothing."),
    PoolRule("pool/label-reserved", Severity.ERROR, "no labels kubelet refuses to set",
             "Use a label outside kubernetes.io/k8s.io, or under node.kubernetes.io/.",
             "NodeRestriction makes kubelet refuse to register a node with such labels: the node never joins."),
    PoolRule("pool/identity-label", Severity.ERROR, f"{POOL_LABEL} equals the pool name",
             f"Set {POOL_LABEL} to the pool's name (or leave it out: the module sets it).",
             "Workloads select their pool by this label and the plan finds pools by it; a value other than the "
             "pool's name sends pods to another pool, or to none."),
    PoolRule("pool/gpu-config-label", Severity.ERROR, "GPU stack labels on time-sliced and MIG pools",
             "Add the device-plugin/MIG config labels the pool's sharing mode needs (docs/pools.md).",
             "The device plugin picks its time-slicing config (nvidia.com/device-plugin.config) and mig-manager "
             "its layout (nvidia.com/mig.config) by node label; without them the nodes get the defaults: whole "
             "GPUs, no MIG."),
    PoolRule("pool/taint-effect", Severity.ERROR, "taint effect is a Kubernetes effect",
             "Use NoSchedule, PreferNoSchedule or NoExecute.",
             "Kubernetes knows NoSchedule, PreferNoSchedule and NoExecute only; another effect is refused when the"
             " node group is created."),
    PoolRule("pool/taint-syntax", Severity.ERROR, "taint keys and values are valid",
             "Fix the taint key or value syntax.",
             "Taint keys and values follow the label syntax; EKS refuses a node group with an invalid one."),
    PoolRule("pool/taint-duplicate", Severity.ERROR, "one taint per key",
             "Keep one taint per key.",
             "The cluster-autoscaler's node template (one Auto Scaling group tag per taint key) can describe a "
             "single taint for each key, so scale-up from zero would plan with the wrong one."),
    PoolRule("pool/gpu-taint", Severity.WARNING, "GPU pools are tainted",
             "Taint the GPU pool (nvidia.com/gpu=true:NoSchedule) so CPU pods stay off expensive nodes.",
             "Without a taint any pod may land on the GPU nodes: it takes room from GPU work and keeps the nodes "
             "from scaling down."),
    PoolRule("pool/sizes", Severity.ERROR, "0 <= min_size <= desired_size <= max_size",
             "Order the sizes: 0 <= min_size <= desired_size <= max_size.",
             "EKS UpdateNodegroupConfig refuses sizes out of order."),
    PoolRule("pool/capacity-type", Severity.ERROR, "capacity type is on-demand or spot",
             "Set capacity_type to on-demand or spot.",
             "EKS node groups are ON_DEMAND or SPOT; the plan prices each pool by it."),
    PoolRule("pool/disk-zones", Severity.ERROR, "disk size and zones are well formed",
             f"Give disk_size_gib >= {MIN_DISK_SIZE_GIB} and zones as a non-empty list of zone ids (use1-az1).",
             "The root volume holds images of 10-20 GB and cached model weights (20 GiB is the smallest the node "
             "AMIs take); a pool's zones are zone ids of the cluster (pool/zone-id says which), and an empty list "
             "leaves the node group no subnet."),
    PoolRule("pool/zone-id", Severity.ERROR, "zones are zone ids of the cluster, not zone names",
             "Name each zone by its zone id, one of the cluster's availability_zone_ids (Terraform); "
             "`aws ec2 describe-availability-zones` shows the id of each zone name in an account.",
             "A zone name (us-east-1a) is a different physical zone in every AWS account, so nothing offline can "
             "tell whether it is one of the cluster's zones (zone ids), and the capacity plan would count it as "
             "a zone of its own."),
    PoolRule("pool/autoscaler-gpu-label", Severity.ERROR,
             f"{AUTOSCALER_GPU_LABEL} on whole-GPU and time-sliced pools, never on MIG or CPU pools",
             f"Add {AUTOSCALER_GPU_LABEL} to whole-GPU and time-sliced pools; remove it from MIG and CPU pools.",
             "cluster-autoscaler counts a node with this label unready until it advertises nvidia.com/gpu; "
             "MIG nodes never do, so it would keep adding nodes."),
    PoolRule("pool/efa", Severity.ERROR, "EFA pools: EFA instance types, one zone, the EFA label",
             "Use EFA-capable instance types, one zone and the EFA label on EFA pools.",
             "EFA needs EFA-capable instance types and, with a cluster placement group, one zone; the EFA label is"
             " what the EFA device plugin and the efa-not-requested rule select by."),
    PoolRule("pool/capacity-reservation", Severity.ERROR, "capacity reservation or Capacity Block is well formed",
             "Give capacity_reservation an id (cr-...) or a resource group ARN of the pool's region.",
             "The launch template names the reservation (cr-...) or the Capacity Block's resource group ARN; a "
             "malformed value fails the node group when Terraform applies it."),
)}

Check = Callable[[PoolFile, Pool, Catalog], Iterator[Finding]]


def _finding(rule: str, pool_file: PoolFile, line: int, message: str) -> Finding:
    return Finding(rule=rule, severity=RULES[rule].severity, message=message, cluster=pool_file.cluster,
                   file=pool_file.file, line=line)


def _line(pool: Pool, key: Any) -> int:
    """The line of the most precise part of `key` the pool file has: "gpu.replicas", else "gpu", else the pool.

    Nested keys are dotted ("labels.<label key>", "taints[1].effect"); a key that is missing (a required
    value left out) points at the section that should hold it.
    """
    while isinstance(key, str) and key:
        if key in pool.field_lines:
            return pool.field_lines[key]
        cut = max(key.rfind("."), key.rfind("["))
        if cut <= 0:
            break
        key = key[:cut]
    return pool.line_of(key) if key is not None else pool.line


def _on(rule: str, pool_file: PoolFile, pool: Pool, key: Any, message: str) -> Finding:
    """A finding about one pool, at the line of `key` (or of the pool itself)."""
    line = _line(pool, key) if key else pool.line
    return _finding(rule, pool_file, line, f"pool {pool.name}: {message}")


def label_key_problem(key: str) -> str | None:
    """Why `key` is not a valid Kubernetes label (or taint) key, or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)):
        return (f"prefix {prefix!r} is not a DNS subdomain "
                "(lower case, digits, '-', '.'; at most 253 characters)")
    if not name or len(name) > 63 or not QUALIFIED_NAME.match(name):
        return (f"name {name!r} must be 1-63 characters of letters, digits, '-', '_', '.', "
                "starting and ending with a letter or digit")
    return None


def label_value_problem(value: str) -> str | None:
    """Why `value` is not a valid Kubernetes label (or taint) value, or None."""
    if len(value) > 63 or not LABEL_VALUE.match(value):
        return ("must be at most 63 characters of letters, digits, '-', '_', '.', "
                "starting and ending with a letter or digit")
    return None


def _pool_gpu_models(pool: Pool, catalog: Catalog) -> list[tuple[str, GpuModel | None, int]]:
    """(instance type, GPU model, GPU count) of each known instance type of the pool."""
    rows = []
    for name in pool.instance_types:
        it = catalog.instance_types.get(name)
        if it is not None:
            rows.append((name, catalog.gpu_model_of_instance(name), it.gpu_count))
    return rows


def check_name(pool_file: PoolFile, pool: Pool, catalog: Catalog) -> Iterator[Finding]:
    if not NODE_GROUP_NAME.match(pool.name):
        yield _finding("pool/name", pool_file, pool.line,
                       f"pool {pool.name!r}: the pool name is the EKS node group name: 1-63 letters, digits, "
                       "'-' or '_', starting with a letter or digit")


def check_unknown_fields(pool_file: PoolFile, pool: Pool, catalog: Catalog) -> Iterator[Finding]:
    for key in sorted(set(pool.extra) - KNOWN_FIELDS, key=str):
        match = closest(str(key), KNOWN_FIELDS)
        hint = f"did you mean {match!r}?" if match else f"known: {', '.join(sorted(KNOWN_FIELDS))}"
        yield _on("pool/unknown-field", pool_file, pool, key, f"unknown field {key!r} ({hint})")


def check_instance_types(pool_file: PoolFile, pool: Pool, catalog: Catalog) -> Iterator[Finding]:
    for index, name in enumerate(pool.instance_types):
        if name not in catalog.instance_types:
            yield _on("pool/instance-type-unknown", pool_file, pool, f"instance_types[{index}]",
                      f"instance type {name!r} is not in the catalog "
                      f"(known: {', '.join(sorted(catalog.instance_types))}; "
                      "add it to data/catalog.yaml "
                      "with its source)")
    shapes = {(model.name if model else None, count) for _, model, count in _pool_gpu_models(pool, catalog)}
    if len(shapes) > 1:
        described = ", ".join(f"{n}: {f'{c}x {m.name}' if m else 'no GPU'}"
                              for n, m, c in _pool_gpu_models(pool, catalog))
        yield _on("pool/instance-types-mixed", pool_file, pool, "instance_types",
                  f"instance types differ in GPUs ({described}); the GPU-sharing config, "
                  "the autoscaler's node template and the capacity plan assume one GPU shape per pool")
    for name, model, _ in _pool_gpu_models(pool, catalog):
        if pool.is_gpu and model is None:
            yield _on("pool/gpu-instance-mismatch", pool_file, pool,
                      f"instance_types[{pool.instance_types.index(name)}]",
                      f"has a gpu section but {name} has no GPU (remove `gpu` or use a "
                      "GPU instance type)")
        elif not pool.is_gpu and model is not None:
            yield _on("pool/gpu-instance-mismatch", pool_file, pool,
                      f"instance_types[{pool.instance_types.index(name)}]",
                      f"{name} has {model.name} GPUs but the pool has no gpu section "
                      "(the node group would get no GPU AMI and no GPU taint)")


def check_gpu_sharing(pool_file: PoolFile, pool: Pool, catalog: Catalog) -> Iterator[Finding]:
    gpu = pool.gpu
    if gpu is None:
        return
    if gpu.mode is None:
        yield _on("pool/sharing", pool_file, pool, "gpu.sharing",
                  f"gpu.sharing {gpu.sharing!r} is not one of {', '.join(SHARING_MODES)}")
        return
    if gpu.mode is SharingMode.TIME_SLICING:
        if gpu.replicas is None or gpu.replicas < 2:
            got = "missing" if gpu.replicas is None else str(gpu.replicas)
            yield _on("pool/timeslice-replicas", pool_file, pool, "gpu.replicas",
                      f"time-slicing needs gpu.replicas >= 2 (got {got}); the device "
                      "plugin rejects fewer")
    elif gpu.replicas is not None:
        yield _on("pool/replicas-not-timeslicing", pool_file, pool, "gpu.replicas",
                  f"gpu.replicas is set but sharing is {gpu.sharing}; replicas apply to "
                  "time-slicing only")
    if gpu.mode is not SharingMode.MIG and gpu.mig_layout is not None:
        yield _on("pool/mig-layout", pool_file, pool, "gpu.mig_layout",
                  f"gpu.mig_layout is set but sharing is {gpu.sharing}")


def check_mig(pool_file: PoolFile, pool: Pool, catalog: Catalog) -> Iterator[Finding]:
    gpu = pool.gpu
    if gpu is None or gpu.mode is not SharingMode.MIG:
        return
    models = {model.name: model for _, model, _ in _pool_gpu_models(pool, catalog) if model is not None}
    if len(models) != 1:
        return  # unknown or mixed instance types are reported above; no single GPU model to check against
    model = next(iter(models.values()))
    if not model.supports_mig:
        yield _on("pool/mig-unsupported", pool_file, pool, "gpu.sharing",
                  f"{model.name} does not support MIG")
        return
    if not gpu.mig_layout:
        yield _on("pool/mig-layout", pool_file, pool, "gpu.mig_layout",
                  "sharing is mig but gpu.mig_layout is missing or empty")
        return
    unknown = [name for name in gpu.mig_layout if name not in model.mig_profiles]
    if unknown:
        match = closest(unknown[0], model.mig_profiles)
        hint = f"; did you mean {match!r}?" if match else ""
        yield _on("pool/mig-profile-unknown", pool_file, pool, f"gpu.mig_layout.{unknown[0]}",
                  f"MIG profile(s) {', '.join(unknown)} do not exist on {model.name} "
                  f"(its profiles: {', '.join(model.mig_profiles)}){hint}")
        return
    valid, reason = validate_layout(model, gpu.mig_layout, catalog)
    if not valid:
        yield _on("pool/mig-layout", pool_file, pool, "gpu.mig_layout",
                  f"MIG layout {_layout_text(gpu.mig_layout)} cannot be placed on one {model.name}: "
                  f"{reason}")


def _layout_text(layout: dict[str, int]) -> str:
    return " + ".join(f"{name} x{count}" for name, count in layout.items())


def check_labels(pool_file: PoolFile, pool: Pool, catalog: Catalog) -> Iterator[Finding]:
    for key, value in pool.labels.items():
        problem = label_key_problem(key)
        if problem:
            yield _on("pool/label-key", pool_file, pool, f"labels.{key}", f"label key {key!r}: {problem}")
        prefix = key.rpartition("/")[0]
        if (prefix.endswith(RESERVED_LABEL_SUFFIXES)
                and not any(prefix == p or prefix.endswith("." + p) for p in ALLOWED_RESERVED_PREFIXES)):
            yield _on("pool/label-reserved", pool_file, pool, f"labels.{key}",
                      f"label {key!r} is in a namespace kubelet may not set on its own "
                      "node (NodeRestriction); the node would not register")
        if value in ("True", "False"):
            # pools.py turns a YAML boolean into str(); Kubernetes wants the string "true" or "false".
            yield _on("pool/label-value", pool_file, pool, f"labels.{key}",
                      f"label {key!r} has a YAML boolean; quote it: \"{value.lower()}\"")
            continue
        problem = label_value_problem(value)
        if problem:
            hint = ""
            if "," in value or value.startswith("["):
                hint = (" - a label key holds one value: give each workload type its own key "
                        "(workload-type.mlplatform.example.com/<type>: \"true\"), see docs/pools.md")
            yield _on("pool/label-value", pool_file, pool, f"labels.{key}",
                      f"label {key!r} value {value!r} {problem}{hint}")


def check_identity_label(pool_file: PoolFile, pool: Pool, catalog: Catalog) -> Iterator[Finding]:
    value = pool.labels.get(POOL_LABEL)
    if value != pool.name:
        got = "missing" if value is None else f"{value!r}"
        yield _on("pool/identity-label", pool_file, pool, f"labels.{POOL_LABEL}",
                  f"label {POOL_LABEL} must equal the pool name {pool.name!r} (got {got}); "
                  "workloads select their pool with it")


def check_gpu_config_labels(pool_file: PoolFile, pool: Pool, catalog: Catalog) -> Iterator[Finding]:
    gpu = pool.gpu
    if gpu is None:
        return
    labels: dict[SharingMode | None, str] = {
        SharingMode.TIME_SLICING: DEVICE_PLUGIN_LABEL, SharingMode.MIG: MIG_CONFIG_LABEL,
    }
    wanted = labels.get(gpu.mode)  # None: a mode the pool file misspells (reported on its own)
    if wanted and not pool.labels.get(wanted):
        what = "device plugin's time-slicing config" if gpu.mode is SharingMode.TIME_SLICING else "MIG layout"
        yield _on("pool/gpu-config-label", pool_file, pool, "labels",
                  f"{gpu.sharing} pool needs label {wanted}: {pool.name} (it selects the "
                  f"{what} for this pool's nodes)")
    for label, mode in ((DEVICE_PLUGIN_LABEL, SharingMode.TIME_SLICING), (MIG_CONFIG_LABEL, SharingMode.MIG)):
        if label in pool.labels and gpu.mode is not mode:
            yield _on("pool/gpu-config-label", pool_file, pool, f"labels.{label}",
                      f"label {label} belongs on {mode} pools, this one is {gpu.sharing}")


def check_taints(pool_file: PoolFile, pool: Pool, catalog: Catalog) -> Iterator[Finding]:
    seen: set[str] = set()
    for index, taint in enumerate(pool.taints):
        at = f"taints[{index}]"
        if taint.effect not in TAINT_EFFECTS:
            yield _on("pool/taint-effect", pool_file, pool, f"{at}.effect",
                      f"taint {taint.key} effect {taint.effect!r} is not one of "
                      f"{', '.join(TAINT_EFFECTS)}")
        problem = label_key_problem(taint.key)
        if problem:
            yield _on("pool/taint-syntax", pool_file, pool, f"{at}.key", f"taint key {taint.key!r}: {problem}")
        if taint.value is not None:
            problem = label_value_problem(taint.value)
            if problem:
                yield _on("pool/taint-syntax", pool_file, pool, f"{at}.value",
                          f"taint {taint.key} value {taint.value!r} {problem}")
        if taint.key in seen:
            yield _on("pool/taint-duplicate", pool_file, pool, f"{at}.key",
                      f"two taints with key {taint.key}; the cluster-autoscaler's node template (an ASG tag "
                      "per taint key) can describe only one")
        seen.add(taint.key)
    if pool.is_gpu and not pool.taints:
        yield _on("pool/gpu-taint", pool_file, pool, "taints",
                  "GPU pool without a taint; any pod may land on its expensive nodes")


def check_sizes(pool_file: PoolFile, pool: Pool, catalog: Catalog) -> Iterator[Finding]:
    lo, want, hi = pool.min_size, pool.desired_size, pool.max_size
    if lo < 0 or not lo <= want <= hi or hi < 1:
        yield _on("pool/sizes", pool_file, pool, _size_out_of_order(lo, want, hi),
                  f"sizes must satisfy 0 <= min_size <= desired_size <= max_size and "
                  f"max_size >= 1 (got min {lo}, desired {want}, max {hi})")


def _size_out_of_order(lo: int, want: int, hi: int) -> str:
    """The key the finding names: the size out of line with the other two, the one a person most likely
    edited (it was always min_size): max_size below 1 or below min_size, desired_size above max_size, else
    min_size (negative, or above desired_size)."""
    if hi < 1 or hi < lo:
        return "max_size"
    if lo >= 0 and want > hi:
        return "desired_size"
    return "min_size"


def check_capacity_type(pool_file: PoolFile, pool: Pool, catalog: Catalog) -> Iterator[Finding]:
    if pool.capacity_type not in CAPACITY_TYPES:
        yield _on("pool/capacity-type", pool_file, pool, "capacity_type",
                  f"capacity_type {pool.capacity_type!r} is not one of "
                  f"{', '.join(CAPACITY_TYPES)}")


def check_disk_and_zones(pool_file: PoolFile, pool: Pool, catalog: Catalog) -> Iterator[Finding]:
    """disk_size_gib is large enough; zones is a non-empty list of strings (which zones: check_zone_ids)."""
    if "disk_size_gib" in pool.extra:
        disk = pool.extra["disk_size_gib"]
        if not isinstance(disk, int) or isinstance(disk, bool) or disk < MIN_DISK_SIZE_GIB:
            yield _on("pool/disk-zones", pool_file, pool, "disk_size_gib",
                      f"disk_size_gib must be a whole number >= {MIN_DISK_SIZE_GIB}, "
                      f"got {disk!r}")
    if "zones" in pool.extra:
        zones = pool.extra["zones"]
        if not isinstance(zones, list) or not zones or not all(isinstance(z, str) and z for z in zones):
            yield _on("pool/disk-zones", pool_file, pool, "zones",
                      f"zones must be a non-empty list of zone ids (e.g. [use1-az1]), got {zones!r}")


def check_zone_ids(pool_file: PoolFile, pool: Pool, zone_ids: tuple[str, ...] | None) -> Iterator[Finding]:
    """Each of the pool's zones is a zone id, one of the cluster's when Terraform says which (`zone_ids`).

    Zone names are refused with their own message: they are the usual slip (the console shows names), and a
    name cannot be checked offline because it maps to a different zone in every account.
    """
    zones = pool.extra.get("zones")
    if not isinstance(zones, list):
        return  # not a list: check_disk_and_zones says so
    known = f"one of the cluster's: {', '.join(zone_ids)}" if zone_ids else "e.g. use1-az1"
    for index, zone in enumerate(zones):
        if not isinstance(zone, str) or not zone:
            continue  # check_disk_and_zones says so
        if ZONE_NAME.match(zone):
            yield _on("pool/zone-id", pool_file, pool, f"zones[{index}]",
                      f"zone {zone!r} is a zone name; use the zone id ({known}): zone names map to different "
                      "physical zones in every AWS account, the cluster's zones are zone ids "
                      f"(`aws ec2 describe-availability-zones --zone-names {zone}` shows this account's id)")
        elif zone_ids and zone not in zone_ids:
            yield _on("pool/zone-id", pool_file, pool, f"zones[{index}]",
                      f"zone {zone!r} is not one of the cluster's zones ({', '.join(zone_ids)}, "
                      "availability_zone_ids in Terraform): the node group would have no subnet there")
        elif not zone_ids and not ZONE_ID.match(zone):
            yield _on("pool/zone-id", pool_file, pool, f"zones[{index}]",
                      f"zone {zone!r} is not a zone id (such as use1-az1)")


def check_autoscaler_gpu_label(pool_file: PoolFile, pool: Pool, catalog: Catalog) -> Iterator[Finding]:
    """The autoscaler's GPU label where a node advertises nvidia.com/gpu, and nowhere else.

    With the label, cluster-autoscaler counts a new node as unready until it advertises a GPU resource, so it
    does not launch more nodes for the same pending pods while the device plugin starts. It only looks for
    nvidia.com/gpu (and other vendors' whole-GPU names): a MIG node (mixed strategy) advertises only
    nvidia.com/mig-<profile>, so with the label it would count as unready forever, and so would a CPU node.
    """
    value = pool.labels.get(AUTOSCALER_GPU_LABEL)
    gpu = pool.gpu
    if gpu is None or gpu.mode is None:
        if value is not None and gpu is None:
            yield _on("pool/autoscaler-gpu-label", pool_file, pool, f"labels.{AUTOSCALER_GPU_LABEL}",
                      f"label {AUTOSCALER_GPU_LABEL} on a pool without GPUs: cluster-autoscaler would count its "
                      "nodes as unready forever (no GPU resource ever appears); remove it")
        return
    models = {model.name: model for _, model, _ in _pool_gpu_models(pool, catalog) if model is not None}
    if len(models) != 1:
        return  # unknown, mixed or non-GPU instance types are reported by the instance type checks
    model = next(iter(models.values()))
    if gpu.mode is SharingMode.MIG:
        if value is not None:
            yield _on("pool/autoscaler-gpu-label", pool_file, pool, f"labels.{AUTOSCALER_GPU_LABEL}",
                      f"label {AUTOSCALER_GPU_LABEL} on a MIG pool: with the mixed strategy its nodes advertise "
                      "nvidia.com/mig-<profile> and never nvidia.com/gpu, so cluster-autoscaler would count "
                      "every node of the pool as unready forever; remove it (docs/layers/scaling.md)")
        return
    if not value:
        suggested = model.autoscaler_gpu_type or f"nvidia-{model.name.split('-')[0].lower()}"
        yield _on("pool/autoscaler-gpu-label", pool_file, pool, "labels",
                  f"{gpu.sharing} GPU pool without label {AUTOSCALER_GPU_LABEL} (e.g. \"{suggested}\"): "
                  "cluster-autoscaler counts a new node as ready before the device plugin advertises "
                  "nvidia.com/gpu and launches more nodes for the same pending pods (docs/layers/scaling.md)")


def check_efa(pool_file: PoolFile, pool: Pool, catalog: Catalog) -> Iterator[Finding]:
    """EFA pools: every instance type has EFA, one zone (a cluster placement group), the plugin's label."""
    raw = pool.extra.get("efa")
    if raw is not None and not isinstance(raw, bool):
        yield _on("pool/efa", pool_file, pool, "efa", f"efa must be true or false, got {raw!r}")
        return
    label = pool.labels.get(EFA_LABEL)
    if not pool.efa:
        if label is not None:
            yield _on("pool/efa", pool_file, pool, f"labels.{EFA_LABEL}",
                      f"label {EFA_LABEL} without efa: true: the EFA device plugin would run on nodes that have "
                      "no EFA interfaces; set efa: true or remove the label")
        return
    for index, name in enumerate(pool.instance_types):
        it = catalog.instance_types.get(name)
        if it is not None and it.efa == 0:
            yield _on("pool/efa", pool_file, pool, f"instance_types[{index}]",
                      f"efa: true but {name} has no EFA interfaces (catalog: data/catalog.yaml)")
    zones = pool.extra.get("zones")
    if not (isinstance(zones, list) and len(zones) == 1):
        yield _on("pool/efa", pool_file, pool, "zones" if "zones" in pool.extra else "efa",
                  "an EFA pool needs exactly one zone (zones: [<zone>]): its nodes share a cluster placement "
                  "group, which lives in one zone, and EFA traffic does not cross zones")
    if label != "true":
        yield _on("pool/efa", pool_file, pool, f"labels.{EFA_LABEL}" if label is not None else "labels",
                  f"an EFA pool needs label {EFA_LABEL}: \"true\" (it puts the EFA device plugin on its nodes)")


def check_capacity_reservation(pool_file: PoolFile, pool: Pool, catalog: Catalog) -> Iterator[Finding]:
    """`capacity_reservation`: an On-Demand Capacity Reservation (id or group ARN) or a Capacity Block (id)."""
    if "capacity_reservation" not in pool.extra:
        return
    raw = pool.extra["capacity_reservation"]
    rule, key = "pool/capacity-reservation", "capacity_reservation"
    if not isinstance(raw, dict):
        yield _on(rule, pool_file, pool, key,
                  "capacity_reservation must be a mapping: {id: cr-...} or {resource_group_arn: arn:...}, "
                  "plus market_type: capacity-block for a Capacity Block")
        return
    for unknown in sorted(set(map(str, raw)) - CAPACITY_RESERVATION_KEYS):
        yield _on(rule, pool_file, pool, f"{key}.{unknown}",
                  f"capacity_reservation.{unknown} is not a known key "
                  f"(known: {', '.join(sorted(CAPACITY_RESERVATION_KEYS))})")
    rid, arn, market = raw.get("id"), raw.get("resource_group_arn"), raw.get("market_type")
    if (rid is None) == (arn is None):
        yield _on(rule, pool_file, pool, key,
                  "capacity_reservation needs exactly one of id (cr-...) and resource_group_arn")
    if rid is not None and not (isinstance(rid, str) and CAPACITY_RESERVATION_ID.match(rid)):
        yield _on(rule, pool_file, pool, f"{key}.id",
                  f"capacity_reservation.id {rid!r} is not a Capacity Reservation id (cr- and 8 or 17 hex digits)")
    if arn is not None:
        match = RESOURCE_GROUP_ARN.match(arn) if isinstance(arn, str) else None
        if match is None or match["region"] != pool_file.region:
            yield _on(rule, pool_file, pool, f"{key}.resource_group_arn",
                      f"capacity_reservation.resource_group_arn {arn!r} is not a resource group ARN in "
                      f"{pool_file.region} (arn:aws:resource-groups:{pool_file.region}:<account>:group/<name>)")
    if market is not None and market != CAPACITY_BLOCK:
        yield _on(rule, pool_file, pool, f"{key}.market_type",
                  f"capacity_reservation.market_type {market!r}: the only market type is {CAPACITY_BLOCK} "
                  "(leave it out for an On-Demand Capacity Reservation)")
    if pool.capacity_type != CapacityType.ON_DEMAND:
        yield _on(rule, pool_file, pool, "capacity_type",
                  f"capacity_type {pool.capacity_type!r} with a capacity reservation: reservations and Capacity "
                  "Blocks are not spot capacity; use on-demand (Terraform sets CAPACITY_BLOCK itself)")
    if market == CAPACITY_BLOCK:
        if arn is not None:
            yield _on(rule, pool_file, pool, f"{key}.resource_group_arn",
                      "a Capacity Block is named by its reservation id, not a resource group "
                      "(EKS User Guide, capacity-blocks-mng)")
        if len(pool.instance_types) != 1:
            yield _on(rule, pool_file, pool, "instance_types",
                      "a Capacity Block pool has exactly one instance type, the block's "
                      "(the launch template names it)")
        zones = pool.extra.get("zones")
        if not (isinstance(zones, list) and len(zones) == 1):
            yield _on(rule, pool_file, pool, "zones" if "zones" in pool.extra else key,
                      "a Capacity Block pool needs exactly one zone, the block's (zones: [<zone>]): instances "
                      "cannot launch into it from another zone")


POOL_CHECKS: tuple[Check, ...] = (
    check_name, check_unknown_fields, check_instance_types, check_gpu_sharing, check_mig, check_labels,
    check_identity_label, check_gpu_config_labels, check_taints, check_sizes, check_capacity_type,
    check_disk_and_zones, check_autoscaler_gpu_label, check_efa, check_capacity_reservation,
)


def _check_file(pool_file: PoolFile) -> Iterator[Finding]:
    parts = PurePosixPath(pool_file.file).parts
    if len(parts) >= 3 and parts[-3:-2] == ("environments",) and parts[-2] != pool_file.cluster:
        yield _finding("pool/file", pool_file, pool_file.line_of_cluster,
                       f"cluster {pool_file.cluster!r} differs from the pool file's directory {parts[-2]!r}")
    version = pool_file.kubernetes_version
    if version is None or not KUBERNETES_VERSION.match(version):
        yield _finding("pool/file", pool_file, pool_file.line_of_cluster,
                       f"kubernetes_version must be a quoted minor version like \"1.34\" (got {version!r}); "
                       "Terraform creates the EKS cluster at this version")
    if not pool_file.pools:
        yield _finding("pool/file", pool_file, pool_file.line_of_cluster, "the pool file defines no pools")


def check_pool_file(
    pool_file: PoolFile, catalog: Catalog, zone_ids: tuple[str, ...] | None = None
) -> list[Finding]:
    """Every semantic problem of one pool file, in file order. `zone_ids`: the cluster's zone ids from Terraform
    (zones.cluster_zone_ids), None when unknown; pool zones are then checked to be zone ids only."""
    findings = list(_check_file(pool_file))
    for pool in pool_file.pools.values():
        for check in POOL_CHECKS:
            findings.extend(check(pool_file, pool, catalog))
        findings.extend(check_zone_ids(pool_file, pool, zone_ids))
    return sorted(findings, key=Finding.sort_key)
