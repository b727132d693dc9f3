"""The GPU system DaemonSets of a cluster: plain DaemonSets and those configured in HelmRelease values."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from .. import yamlio
from ..helm import merge_maps  # helm-controller's composition: maps merge key by key
from ..model import Manifest, Pool
from ..scheduling import match_node_selection, untolerated
from ..yamlio import plain
from ._base import RuleContext, as_dict, get_path, pointer


@dataclass
class SystemDaemonSet:
    manifest: Manifest
    name: str  # how messages name it: "DaemonSet nvidia-device-plugin" or "gpu-operator operand device-plugin"
    pod_spec: dict[str, Any]
    gpu_only: bool
    mig_only: bool
    # Where a fix adds tolerations: the JSON pointer of the list in the source document, the list as it is
    # (None when absent) and the keys of the path, so a fix can create missing parents.
    tolerations_path: tuple[str | int, ...] | None = None
    tolerations_now: list[Any] | None = None
    defaults: list[Any] = field(default_factory=list)
    # JSON pointer to where its node selection is written (or would go), for the finding's line.
    selection_at: str = ""

    @property
    def tolerations_at(self) -> str:
        """JSON pointer to its tolerations (or where they would go), for the finding's line."""
        return pointer(*self.tolerations_path) if self.tolerations_path else self.selection_at

    def reaches(self, pool: Pool, labels: dict[str, str]) -> str | None:
        """None when the DaemonSet's pods can run on the pool's nodes, else why not."""
        blocking = untolerated(self.pod_spec.get("tolerations") or [], pool.taints)
        if blocking:
            return "does not tolerate " + ", ".join(f"{t.key}={t.value or ''}:{t.effect}" for t in blocking)
        return match_node_selection(self.pod_spec, labels)


def helm_values(ctx: RuleContext, release: Manifest) -> tuple[dict[str, Any], dict[str, Any]]:
    """(merged, inline) values of a HelmRelease: valuesFrom ConfigMaps of the render, then spec.values."""
    spec = release.obj.get("spec") or {}
    merged: dict[str, Any] = {}
    for ref in spec.get("valuesFrom") or []:
        if not isinstance(ref, dict) or ref.get("kind") != "ConfigMap":
            continue
        for m in ctx.manifests:
            if m.ref.kind == "ConfigMap" and m.ref.name == ref.get("name") and m.ref.namespace == release.ref.namespace:
                text = as_dict(m.obj.get("data")).get(ref.get("valuesKey") or "values.yaml")
                try:
                    loaded = yamlio.safe_load(text) if isinstance(text, str) else None
                except yaml.YAMLError:
                    loaded = None
                if isinstance(loaded, dict) and not ref.get("targetPath"):
                    merged = merge_maps(merged, loaded)
    inline = plain(spec.get("values") or {})
    return merge_maps(merged, inline if isinstance(inline, dict) else {}), inline


def chart_name(release: Manifest) -> str:
    spec = release.obj.get("spec") or {}
    name = get_path(spec, "chart.spec.chart") or get_path(spec, "chartRef.name") or ""
    return str(name).rsplit("/", 1)[-1]


def system_daemonsets(ctx: RuleContext) -> list[SystemDaemonSet]:
    """Found once per run (two rules ask)."""
    found = ctx.cache.get("system_daemonsets")
    if found is None:
        found = ctx.cache["system_daemonsets"] = list(_system_daemonsets(ctx))
    return found


def _system_daemonsets(ctx: RuleContext) -> Iterator[SystemDaemonSet]:
    cfg = ctx.policy.gpu_daemonsets
    patterns = cfg.get("daemonsets") or []
    for info in ctx.templates:
        if not info.is_daemonset:
            continue
        name = info.manifest.ref.name
        labels = info.tpl.labels
        for entry in patterns:
            by_name = entry.get("name") and fnmatch.fnmatch(name, entry["name"])
            by_label = entry.get("label") and all(labels.get(k) == str(v) for k, v in entry["label"].items())
            if by_name or by_label:
                tols = info.spec.get("tolerations")
                yield SystemDaemonSet(
                    info.manifest,
                    f"DaemonSet {name}",
                    info.spec,
                    bool(entry.get("gpu_only")),
                    bool(entry.get("mig_only")),
                    (*info.tpl.path, "spec", "tolerations"),
                    tols if isinstance(tols, list) else None,
                    selection_at=info.tpl.pointer + "/nodeSelector",
                )
                break
    charts = cfg.get("helm_charts") or {}
    for release in ctx.by_kind("HelmRelease"):
        if chart_name(release) not in charts:
            continue
        chart = charts[chart_name(release)]
        values, inline = helm_values(ctx, release)
        for operand, op in (chart.get("operands") or {}).items():
            enabled = op.get("enabled") or {}
            if enabled:
                switch = get_path(values, enabled["path"])
                if not (enabled.get("default", True) if switch is None else switch is True):
                    continue
            tol_paths = op.get("tolerations") or []
            chosen = next((p for p in tol_paths if get_path(values, p) is not None), None)
            tolerations = get_path(values, chosen) if chosen else list(chart.get("default_tolerations") or [])
            selector = dict(op.get("node_selector") or {})
            selection_at = "/spec/values"
            for p in op.get("node_selector_paths") or []:
                if isinstance(get_path(values, p), dict):
                    selector.update(get_path(values, p))
                    if get_path(inline, p) is not None:  # written in spec.values, not in a valuesFrom ConfigMap
                        selection_at = pointer("spec", "values", *p.split("."))
                    break
            pod_spec: dict[str, Any] = {
                "tolerations": tolerations if isinstance(tolerations, list) else [],
                "nodeSelector": selector,
            }
            for p in op.get("affinity_paths") or []:
                if isinstance(get_path(values, p), dict):
                    pod_spec["affinity"] = get_path(values, p)
                    break
            fix_key = chosen or (tol_paths[0] if tol_paths else None)
            # A fix edits spec.values only: a list that comes from a valuesFrom ConfigMap is not touched.
            fix_path = (
                ("spec", "values", *fix_key.split("."))
                if fix_key is not None and (chosen is None or get_path(inline, chosen) is not None)
                else None
            )
            yield SystemDaemonSet(
                release,
                f"{chart_name(release)} operand {operand} (HelmRelease {release.ref.name})",
                pod_spec,
                bool(op.get("gpu_only")),
                bool(op.get("mig_only")),
                fix_path,
                get_path(inline, chosen) if chosen else None,
                defaults=list(chart.get("default_tolerations") or []),
                selection_at=selection_at,
            )


def add_tolerations_patch(
    ds: SystemDaemonSet, source_root: dict[str, Any], new: list[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    """JSON Patch adding tolerations at ds.tolerations_path, creating missing parent mappings."""
    if ds.tolerations_path is None:
        return None
    if isinstance(ds.tolerations_now, list):
        return [{"op": "add", "path": pointer(*ds.tolerations_path) + "/-", "value": t} for t in new]
    # Find the deepest existing parent in the rendered object (the source has the same shape there).
    parts = list(ds.tolerations_path)
    node: Any = source_root
    depth = 0
    for part in parts[:-1]:
        if isinstance(node, dict) and isinstance(node.get(part), dict):
            node = node[part]
            depth += 1
        else:
            break
    value: Any = [*ds.defaults, *new]
    for part in reversed(parts[depth + 1 :]):
        value = {part: value}
    return [{"op": "add", "path": pointer(*parts[: depth + 1]), "value": value}]
