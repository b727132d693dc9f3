"""The HelmReleases of one rendered cluster, rendered with helm (helm.py) and added to the cluster's objects.

Called by cluster_render.render_cluster after every Flux Kustomization is built and substituted, and before
CRD ordering: the chart's objects (its CRDs too) join the output of the Kustomization that applies the
HelmRelease, so schema validation, the policies, CRD ordering and the capacity plan all see them. Each object
points at the HelmRelease (file, line) a person edits, and names the release, the chart and the template.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from . import helm
from .config import DEFAULT_KUBERNETES_VERSION, Config
from .errors import InputError, ToolError
from .model import Finding, Manifest, Severity
from .pools import load_pool_file, pool_file_path
from .provenance import field_line
from .yamlio import mapping


class ClusterObjects:
    """The cluster's rendered objects a HelmRelease reads, by (kind, namespace, name)."""

    def __init__(self, manifests: list[Manifest]) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        for manifest in manifests:
            ref = manifest.ref
            namespace = ref.namespace or "default"
            self.objects.setdefault((ref.kind, namespace, ref.name), manifest.obj)
            if ref.kind == "ExternalSecret":
                # external-secrets makes a Secret named by spec.target.name (default: its own name)
                target = (manifest.obj.get("spec") or {}).get("target") or {}
                secret = target.get("name") if isinstance(target, dict) else None
                self.objects.setdefault(("Secret", namespace, str(secret or ref.name)), manifest.obj)

    def find(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, namespace, name))


def crd_api_versions(objs: Iterable[Any]) -> set[str]:
    """group/version and group/version/Kind of every served version of these CRDs: what
    `.Capabilities.APIVersions` holds once they are installed (charts gate ServiceMonitors and the like on it)."""
    out: set[str] = set()
    for obj in objs:
        if not isinstance(obj, dict) or obj.get("kind") != "CustomResourceDefinition":
            continue
        spec = mapping(obj.get("spec"))
        group = spec.get("group")
        kind = mapping(spec.get("names")).get("kind")
        versions = spec.get("versions")
        for version in versions if isinstance(versions, list) else []:
            if isinstance(version, dict) and group and version.get("name") and version.get("served", True):
                out.add(f"{group}/{version['name']}")
                if kind:
                    out.add(f"{group}/{version['name']}/{kind}")
    return out


def chart_crds(chart_dir: Path) -> list[Any]:
    """The documents of the chart's crds/ folder. Helm installs them before it renders the templates and
    refreshes its discovery, so the templates already see them as served APIs."""
    docs: list[Any] = []
    folder = chart_dir / "crds"
    if not folder.is_dir():
        return docs
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
            try:
                docs.extend(yaml.safe_load_all(path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                continue  # helm template reports a CRD file it cannot read
    return docs


def _cluster_scoped(manifests: list[Manifest]) -> set[str]:
    from .cluster_render import CLUSTER_SCOPED_KINDS  # the pipeline imports this module

    kinds = set(CLUSTER_SCOPED_KINDS)
    for manifest in manifests:
        spec = mapping(manifest.obj.get("spec"))
        if manifest.obj.get("kind") == "CustomResourceDefinition" and spec.get("scope") == "Cluster":
            names = mapping(spec.get("names"))
            if names.get("kind"):
                kinds.add(str(names["kind"]))
    return kinds


def _kubernetes_version(repo: Path, config: Config, cluster: str) -> str:
    """The version schema validation uses (check.kubernetes_version_for): the setting, else the cluster's pool
    file, else the default; charts read it as .Capabilities.KubeVersion. A pool file that does not load is
    reported by the pool checks; here it only means the default."""
    if config.kubernetes_version:
        return str(config.kubernetes_version)
    try:
        pool_file = load_pool_file(pool_file_path(repo, cluster), repo)
    except (InputError, ToolError):
        return DEFAULT_KUBERNETES_VERSION
    return pool_file.kubernetes_version or DEFAULT_KUBERNETES_VERSION


def render_helm_releases(
    repo: Path,
    config: Config,
    cluster: str,
    by_kustomization: dict[tuple[str, str], list[Manifest]],
    self_sources: set[tuple[str, str, str]],
    kustomize: Any,
    timeout: float,
    jobs: int,
) -> tuple[list[Manifest], list[Finding]]:
    """Render every HelmRelease among the objects; their objects are appended to by_kustomization in place.
    Returns the new objects (in order) and the findings (a release that is not rendered says why)."""
    everything = [m for items in by_kustomization.values() for m in items]
    releases = [(key, m) for key, items in by_kustomization.items() for m in items if helm.is_helm_release(m.obj)]
    if not releases:
        return [], []
    objects = ClusterObjects(everything)
    cache = helm.chart_cache_dir()
    binary = helm.find_helm()
    kube_version = _kubernetes_version(repo, config, cluster)
    api_versions = crd_api_versions(m.obj for m in everything)
    scoped = _cluster_scoped(everything)
    findings: list[Finding] = []

    def one(manifest: Manifest) -> tuple[list[Manifest], list[Finding]]:
        obj, release_id = manifest.obj, f"{manifest.ref.namespace or 'default'}/{manifest.ref.name}"
        values, problems = helm.compose_values(obj, objects.find)
        if problems:
            return [], [
                Finding(rule=p.rule, severity=p.severity, message=p.message, cluster=cluster,
                        file=manifest.source.file, line=field_line(manifest, f"spec.valuesFrom[{p.index}]"),
                        object=manifest.ref)
                for p in problems
            ]
        chart = helm.resolve_chart(repo, obj, objects.find, self_sources, cache)
        if chart.directory is None:
            return [], [Finding.on(manifest, helm.CHART_UNAVAILABLE, Severity.INFO,
                                   f"HelmRelease {release_id} is not rendered: chart {chart.describe()}: "
                                   f"{chart.reason}")]
        escape = helm.chart_symlink_escape(repo if chart.directory.is_relative_to(repo) else cache, chart.directory)
        if escape:
            return [], [Finding.on(manifest, helm.OUTSIDE, Severity.ERROR,
                                   f"HelmRelease {release_id} is not rendered: chart {chart.describe()} has a "
                                   f"symlink that leaves it ({escape}); helm would read through it")]
        defaults, problem = helm.chart_values(obj, chart)
        if problem:
            return [], [Finding.on(manifest, helm.VALUES_INVALID, Severity.ERROR,
                                   f"HelmRelease {release_id} is not rendered: {problem}")]
        if binary is None:
            return [], [Finding.on(manifest, helm.HELM_MISSING, Severity.INFO,
                                   f"HelmRelease {release_id} is not rendered: no helm (run `make setup`, or set "
                                   f"{helm.ENV_VAR})")]
        apis = set(api_versions)
        if helm.crds_policy(obj) != "Skip":
            apis |= crd_api_versions(chart_crds(chart.directory))
        rendered = helm.render_release(binary, obj, chart.directory, values, kube_version, sorted(apis),
                                       kustomize, timeout, defaults)
        if rendered.error:
            rule, message = rendered.error
            severity = Severity.INFO if rule == helm.CHART_UNAVAILABLE else Severity.ERROR
            return [], [Finding.on(manifest, rule, severity, f"HelmRelease {release_id} is not rendered: {message}")]
        namespace = helm.release_namespace(obj)
        out = []
        for item, template in rendered.objects:
            meta = item.get("metadata")
            if isinstance(meta, dict) and not meta.get("namespace") and item.get("kind") not in scoped:
                meta["namespace"] = namespace  # helm installs namespaced objects into the release namespace
            source = helm.HelmProvenance(
                manifest.source.file, manifest.source.line, manifest.source.flux_kustomization,
                release=release_id, chart=chart.describe(), template=template,
            )
            out.append(Manifest(cluster, item, source))
        return out, []

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(lambda pair: one(pair[1]), releases))
    added: list[Manifest] = []
    for (key, _), (items, problems) in zip(releases, results, strict=True):
        by_kustomization[key].extend(items)
        added.extend(items)
        findings.extend(problems)
    return added, findings


def not_rendered(findings: list[Finding]) -> list[dict[str, Any]]:
    """The HelmReleases whose objects are missing from the render, and why (for the capacity plan)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for f in findings:
        if f.rule in helm.NOT_RENDERED_RULES and f.object is not None and f.object.kind == "HelmRelease":
            key = (f.object.namespace or "default", f.object.name)
            out.setdefault(key, {"release": f"{key[0]}/{key[1]}", "file": f.file, "line": f.line,
                                 "rule": f.rule, "reason": f.message})
    return [out[k] for k in sorted(out)]
