"""The rendered device-plugin and mig-parted ConfigMaps must say what the pool file says, pool by pool."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from .. import yamlio
from ..model import DEVICE_PLUGIN_LABEL, GPU_RESOURCE, MIG_CONFIG_LABEL, Finding, Manifest, Pool, Severity
from ._base import RuleContext, as_dict, as_list, get_path, pointer
from ._gpu_system import chart_name, helm_values

ID = "policy/sharing-config-drift"
TITLE = "GPU-sharing config disagrees with the pool file"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "The device plugin and mig-parted read their configuration from ConfigMaps; a node picks its entry by "
    "the label nvidia.com/device-plugin.config (else the default entry) and nvidia.com/mig.config. If the "
    "rendered objects say other replicas, another MIG layout or another MIG strategy than the pool file, the "
    "nodes advertise other GPU units than every check and plan assumed. `gen --check` compares files; this "
    "rule reads the rendered cluster objects: per time-sliced pool, the entry's nvidia.com/gpu replicas, "
    "failRequestsGreaterThanOne and renameByDefault; per MIG pool, the mixed strategy (device plugin flags "
    "or the gpu-operator value mig.strategy) and the mig-parted layout; the names wired in the gpu-operator "
    "HelmRelease (devicePlugin.config, migManager.config). Regenerate with `mlplatform gen`."
)
REMEDIATION = "Run `mlplatform gen` and commit the regenerated GPU-sharing config."


def _configmap(ctx: RuleContext, name: str, namespace: str | None) -> Manifest | None:
    for m in ctx.by_kind("ConfigMap"):
        if m.ref.name == name and (namespace is None or m.ref.namespace == namespace):
            return m
    return None


def _parse(text: Any) -> Any:
    try:
        return yamlio.safe_load(text) if isinstance(text, str) else None
    except yaml.YAMLError:
        return None


class _Checker:
    def __init__(self, ctx: RuleContext) -> None:
        self.ctx = ctx
        self.findings: list[Finding] = []
        gs = ctx.policy.gpu_sharing
        # typed, with defaults: _params.GPU_SHARING
        dp, mp = gs["device_plugin_configmap"], gs["mig_parted_configmap"]
        self.strategy = gs["mig_strategy"]
        self.fail_gt_one = gs["fail_requests_greater_than_one"]
        self.dp_name, self.dp_ns = dp.get("name", "device-plugin-config"), dp.get("namespace")
        self.dp_default = dp.get("default_key", "default")
        self.mp_name, self.mp_ns, self.mp_key = (
            mp.get("name", "mig-parted-config"),
            mp.get("namespace"),
            mp.get("key", "config.yaml"),
        )
        self.operator: Manifest | None = None
        self.values: dict[str, Any] = {}
        for m in ctx.by_kind("HelmRelease"):
            if chart_name(m) == "gpu-operator":
                self.operator, (self.values, _) = m, helm_values(ctx, m)
                self.dp_name = get_path(self.values, "devicePlugin.config.name") or self.dp_name
                self.dp_default = get_path(self.values, "devicePlugin.config.default") or self.dp_default
                self.mp_name = get_path(self.values, "migManager.config.name") or self.mp_name
                self.dp_ns = self.mp_ns = m.ref.namespace or self.dp_ns
                if m.obj.get("spec", {}).get("targetNamespace"):
                    self.dp_ns = self.mp_ns = m.obj["spec"]["targetNamespace"]
                break

    def on(self, manifest: Manifest | None, pool: Pool, key: str, message: str, at: str | None = None) -> None:
        """A finding on `manifest` at the field `at` (a JSON pointer: the ConfigMap entry, the chart value), or,
        with no manifest to name, on the pool file's `key` of the pool."""
        if manifest is not None:
            if found := self.ctx.emit(ID, SEVERITY, manifest, message, at=at):
                self.findings.append(found)
        else:
            self.findings.append(
                Finding(
                    ID,
                    SEVERITY,
                    message,
                    cluster=self.ctx.name,
                    file=pool.file or None,
                    line=pool.line_of(key),
                )
            )

    def device_plugin(self, pool: Pool) -> tuple[Manifest | None, Any]:
        """The ConfigMap and the parsed config entry the pool's nodes use (None when missing, reported)."""
        cm = _configmap(self.ctx, self.dp_name, self.dp_ns)
        key = pool.labels.get(DEVICE_PLUGIN_LABEL) or self.dp_default
        if cm is None:
            self.on(
                None,
                pool,
                "gpu",
                f"pool {pool.name}: no device-plugin ConfigMap {self.dp_name} is rendered for this cluster",
            )
            return None, None
        text = as_dict(cm.obj.get("data")).get(key)
        config = _parse(text)
        if not isinstance(config, dict):
            self.on(
                cm,
                pool,
                "labels",
                f"pool {pool.name}: entry {key!r} of ConfigMap {self.dp_name} is "
                f"{'missing' if text is None else 'not a device-plugin config'}",
                at=pointer("data", key),
            )
            return cm, None
        return cm, config

    def time_slicing(self, pool: Pool) -> None:
        cm, config = self.device_plugin(pool)
        if config is None:
            return
        key = pool.labels.get(DEVICE_PLUGIN_LABEL) or self.dp_default
        # as written (None when the pool file gives no count): a time-sliced pool always has a gpu section
        want = pool.gpu.replicas if pool.gpu is not None else None
        ts = as_dict(get_path(config, "sharing.timeSlicing"))
        entries = [r for r in as_list(ts.get("resources")) if isinstance(r, dict) and r.get("name") == GPU_RESOURCE]
        where = f"pool {pool.name} (entry {key!r} of ConfigMap {self.dp_name})"
        if not entries:
            self.on(
                cm,
                pool,
                "gpu",
                f"{where}: no time-slicing of nvidia.com/gpu; the pool file says {want} replicas",
                at=pointer("data", key),
            )
            return
        replicas = entries[0].get("replicas")
        if replicas != want:
            self.on(cm, pool, "gpu", f"{where}: {replicas} replicas, the pool file says {want}",
                    at=pointer("data", key))
        if ts.get("renameByDefault") or entries[0].get("rename"):
            self.on(cm, pool, "gpu", f"{where}: renames the shared resource; workloads request nvidia.com/gpu",
                    at=pointer("data", key))
        if bool(ts.get("failRequestsGreaterThanOne", False)) != bool(self.fail_gt_one):
            self.on(
                cm,
                pool,
                "gpu",
                f"{where}: failRequestsGreaterThanOne must be {str(self.fail_gt_one).lower()}",
                at=pointer("data", key),
            )

    def mig(self, pool: Pool) -> None:
        cm, config = self.device_plugin(pool)
        if config is not None:
            flag = get_path(config, "flags.migStrategy")
            key = pool.labels.get(DEVICE_PLUGIN_LABEL) or self.dp_default
            where = f"pool {pool.name} (entry {key!r} of ConfigMap {self.dp_name})"
            if flag is not None and flag != self.strategy:
                self.on(
                    cm,
                    pool,
                    "gpu",
                    f"{where}: migStrategy {flag}, but MIG pools need {self.strategy} "
                    f"(one resource per profile, nvidia.com/mig-<profile>)",
                    at=pointer("data", key),
                )
            if get_path(config, "sharing.timeSlicing.resources"):
                self.on(cm, pool, "gpu", f"{where}: time-slices the MIG pool's devices, the pool file does not",
                        at=pointer("data", key))
        if self.operator is not None:
            strategy = get_path(self.values, "mig.strategy") or "single"  # the chart's default
            if strategy != self.strategy:
                self.on(
                    self.operator,
                    pool,
                    "gpu",
                    f"pool {pool.name} is a MIG pool but the gpu-operator value "
                    f"mig.strategy is {strategy!r}; it must be {self.strategy!r}",
                    at="/spec/values/mig/strategy",
                )
        name = pool.labels.get(MIG_CONFIG_LABEL)
        if not name:
            self.on(
                None,
                pool,
                "labels",
                f"MIG pool {pool.name} has no nvidia.com/mig.config label: mig-manager applies no layout to its nodes",
            )
            return
        mcm = _configmap(self.ctx, self.mp_name, self.mp_ns)
        if mcm is None:
            self.on(None, pool, "gpu", f"MIG pool {pool.name}: no mig-parted ConfigMap {self.mp_name} is rendered")
            return
        parsed = _parse(as_dict(mcm.obj.get("data")).get(self.mp_key))
        entries = get_path(parsed, "mig-configs") if isinstance(parsed, dict) else None
        entry = entries.get(name) if isinstance(entries, dict) else None
        if not isinstance(entry, list) or not entry:
            self.on(
                mcm,
                pool,
                "gpu",
                f"MIG pool {pool.name}: mig-parted config {name!r} is missing from ConfigMap {self.mp_name}",
                at=pointer("data", self.mp_key),
            )
            return
        want = {str(k): int(v) for k, v in pool.mig_layout.items() if v}
        for part in entry:
            part = as_dict(part)
            have = {str(k): v for k, v in as_dict(part.get("mig-devices")).items() if v}
            if not part.get("mig-enabled") or have != want:
                self.on(
                    mcm,
                    pool,
                    "gpu",
                    f"MIG pool {pool.name}: mig-parted config {name!r} sets "
                    f"{have or 'MIG disabled'} on devices {part.get('devices')}; the pool file says "
                    f"{want}",
                    at=pointer("data", self.mp_key),
                )
                return

    def run(self) -> list[Finding]:
        for pool in self.ctx.gpu_pools():
            if pool.time_sliced:
                self.time_slicing(pool)
            elif pool.mig:
                self.mig(pool)
        return self.findings


def check(ctx: RuleContext) -> Iterator[Finding]:
    yield from _Checker(ctx).run()
