"""The Flux graph of a cluster as data: sources, Kustomizations, HelmReleases, and what orders them.

Built from the rendering `check` judged (cluster_render.ClusterRender): the Flux Kustomizations and sources that
discovery found (flux.py), the HelmReleases in each Kustomization's output, `dependsOn` of both kinds,
chart sources, and CRD ordering (a Kustomization applying custom resources after whatever installs their
CRD). Findings of the check are attached to the node they concern. `diff_graphs` compares two such graphs
(a pull request against its base) node by node. Drawing is elsewhere (pictures/flowchart.py).

Edges point the way Flux proceeds: from what must be ready first to what needs it (source -> consumer,
dependency -> dependent, CRD provider -> Kustomization applying such resources).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import flux
from .model import Finding, Manifest, ObjectRef, Severity
from .yamlio import mapping

HELM_GROUP = "helm.toolkit.fluxcd.io"
SEVERITY_ORDER = (Severity.ERROR, Severity.WARNING, Severity.INFO)
STATUSES = ("added", "changed", "removed", "unchanged")


@dataclass
class Node:
    id: str  # unique within a cluster: "<kind>:<namespace>/<name>"
    kind: str  # "Kustomization", "HelmRelease" or a source kind (GitRepository, HelmRepository, ...)
    namespace: str
    name: str
    file: str | None = None
    line: int | None = None
    parent: str | None = None  # id of the Kustomization whose output holds it (None: applied from outside)
    detail: str = ""  # path of a Kustomization, chart and version of a HelmRelease, URL-less source hint
    provides: list[str] = field(default_factory=list)  # CRD groups it installs
    findings: dict[str, int] = field(default_factory=dict)  # severity value -> count
    rules: list[str] = field(default_factory=list)  # rule ids of those findings, for titles
    status: str = ""  # with a base: added, changed, removed or unchanged
    digest: str = ""  # of the object and (for a Kustomization) everything it applies

    @property
    def is_source(self) -> bool:
        return self.kind in flux.SOURCE_KINDS

    @property
    def worst(self) -> Severity | None:
        for severity in SEVERITY_ORDER:
            if self.findings.get(severity.value):
                return severity
        return None

    def findings_text(self) -> str:
        parts = []
        for severity in SEVERITY_ORDER:
            n = self.findings.get(severity.value, 0)
            if n:
                word = severity.value if n == 1 else f"{severity.value}s"
                parts.append(f"{n} {word}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "parent": self.parent,
            "detail": self.detail,
            "provides_crds": self.provides,
            "findings": self.findings,
            "status": self.status or None,
        }


@dataclass
class Edge:
    source: str
    target: str
    kind: str  # "source" (reads), "dependsOn", "applies" (a Kustomization applying one), "crds"
    label: str = ""
    ok: bool = True  # a CRD edge that the dependsOn chain does not guarantee is not ok

    def to_json(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, "kind": self.kind, "label": self.label, "ok": self.ok}


@dataclass
class ClusterGraph:
    cluster: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def add_edge(self, edge: Edge) -> None:
        if edge.source == edge.target or edge.source not in self.nodes or edge.target not in self.nodes:
            return
        for existing in self.edges:
            if (existing.source, existing.target, existing.kind) == (edge.source, edge.target, edge.kind):
                return
        self.edges.append(edge)

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "nodes": [n.to_json() for n in self.nodes.values()],
            "edges": [e.to_json() for e in self.edges],
        }


def node_id(kind: str, namespace: str | None, name: str) -> str:
    return f"{kind}:{namespace or ''}/{name}"


def _ks_id(key: tuple[str, str]) -> str:
    return node_id("Kustomization", key[0], key[1])


def _digest(objects: Iterable[dict[str, Any]]) -> str:
    text = "\n".join(sorted(json.dumps(o, sort_keys=True, default=str) for o in objects))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _chart(obj: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(chart and version text, the chart's sourceRef) of a HelmRelease: spec.chart.spec or spec.chartRef."""
    spec = _spec(obj)
    chart_spec = mapping(mapping(spec.get("chart")).get("spec"))
    if chart_spec:
        ref = mapping(chart_spec.get("sourceRef"))
        version = chart_spec.get("version")
        name = str(chart_spec.get("chart", "?"))
        # the chart name only when it differs from the release (most releases carry their chart's name)
        text = (f"chart {name} " if name != str((obj.get("metadata") or {}).get("name")) else "chart ") + str(
            version or "(any version)"
        )
        return text, ref
    ref = mapping(spec.get("chartRef"))
    return (f"chart from {ref.get('kind', '?')} {ref.get('name', '?')}" if ref else ""), ref


def _groups(annotation: Any) -> list[str]:
    return sorted({g.strip() for g in annotation.split(",") if g.strip()}) if isinstance(annotation, str) else []


def build_graph(render: Any, findings: Iterable[Finding] = (), extra_preinstalled: Iterable[str] = ()) -> ClusterGraph:
    """The graph of one rendered cluster (a cluster_render.ClusterRender) with `findings` attached to their nodes."""
    fgraph: flux.FluxGraph = render.graph
    cluster = render.cluster
    graph = ClusterGraph(cluster)
    applied_by: dict[tuple[str, str | None, str], str] = {}  # (kind, namespace, name) -> id of applying ks
    manifests_by_ref: dict[tuple[str, str | None, str], Manifest] = {}
    for key, items in render.by_kustomization.items():
        for manifest in items:
            ref = manifest.ref
            # Flux objects without a namespace land in flux-system, as flux.py parses them
            namespace = ref.namespace or ("flux-system" if _is_flux(manifest.obj) else None)
            ident = (ref.kind, namespace, ref.name)
            manifests_by_ref.setdefault(ident, manifest)
            applied_by.setdefault(ident, _ks_id(key))

    for key, ks in fgraph.kustomizations.items():
        ident = ("Kustomization", ks.namespace, ks.name)
        parent = _ks_id(_key_of(ks.rendered_by)) if ks.rendered_by else applied_by.get(ident)
        external = (ks.source_kind, ks.source_namespace, ks.source_name) != ("GitRepository", "flux-system",
                                                                             "flux-system")
        detail = f"{ks.source_name}: {ks.path or '.'}" if external else "./" + flux.normalize_path(ks.path)
        annotations = (ks.obj.get("metadata") or {}).get("annotations") if isinstance(ks.obj, dict) else None
        graph.nodes[_ks_id(key)] = Node(
            id=_ks_id(key),
            kind="Kustomization",
            namespace=ks.namespace,
            name=ks.name,
            file=ks.file,
            line=ks.line,
            parent=parent if parent != _ks_id(key) else None,
            detail=detail,
            provides=_groups((annotations or {}).get(flux.PROVIDES_CRDS) if isinstance(annotations, dict) else None),
            digest=_digest([ks.obj, *(m.obj for m in render.by_kustomization.get(key, []))]),
        )
    for source in fgraph.sources.values():
        ident = (source.kind, source.namespace, source.name)
        manifest = manifests_by_ref.get(ident)
        nid = node_id(source.kind, source.namespace, source.name)
        graph.nodes[nid] = Node(
            id=nid,
            kind=source.kind,
            namespace=source.namespace,
            name=source.name,
            file=source.file,
            line=source.line,
            parent=applied_by.get(ident),
            digest=_digest([manifest.obj] if manifest else [{"source": [source.kind, source.namespace, source.name]}]),
        )
    releases: list[tuple[str, Manifest]] = []
    for key, items in render.by_kustomization.items():
        for manifest in items:
            if manifest.ref.kind != "HelmRelease" or flux.api_group(manifest.obj.get("apiVersion")) != HELM_GROUP:
                continue
            ref = manifest.ref
            namespace = ref.namespace or "default"
            nid = node_id("HelmRelease", namespace, ref.name)
            chart_text, _ = _chart(manifest.obj)
            graph.nodes[nid] = Node(
                id=nid,
                kind="HelmRelease",
                namespace=namespace,
                name=ref.name,
                file=manifest.source.file,
                line=manifest.source.line,
                parent=_ks_id(key),
                detail=chart_text,
                provides=_groups(manifest.annotations.get(flux.PROVIDES_CRDS)),
                digest=_digest([manifest.obj]),
            )
            releases.append((nid, manifest))

    # Kustomizations: the source they read, the Kustomizations they depend on, the ones they apply.
    for key, ks in fgraph.kustomizations.items():
        me = _ks_id(key)
        graph.add_edge(Edge(node_id(ks.source_kind, ks.source_namespace, ks.source_name), me, "source"))
        for dep in ks.depends_on:
            graph.add_edge(Edge(_ks_id((dep.namespace, dep.name)), me, "dependsOn"))
        parent = graph.nodes[me].parent
        if parent:
            graph.add_edge(Edge(parent, me, "applies"))
    # HelmReleases: their chart source and the releases they depend on.
    for nid, manifest in releases:
        namespace = graph.nodes[nid].namespace
        _, ref = _chart(manifest.obj)
        if ref.get("kind") and ref.get("name"):
            graph.add_edge(Edge(node_id(str(ref["kind"]), str(ref.get("namespace") or namespace), str(ref["name"])),
                                nid, "source"))
        deps = _spec(manifest.obj).get("dependsOn")
        for dep in deps if isinstance(deps, list) else []:
            if isinstance(dep, dict) and dep.get("name"):
                graph.add_edge(Edge(node_id("HelmRelease", str(dep.get("namespace") or namespace), str(dep["name"])),
                                    nid, "dependsOn"))
    _crd_edges(graph, render, fgraph, list(extra_preinstalled))
    attach_findings(graph, render, findings)
    return graph


def _is_flux(obj: dict[str, Any]) -> bool:
    return flux.is_flux_kustomization(obj) or flux.is_flux_source(obj)


def _key_of(ks_id: str) -> tuple[str, str]:
    namespace, _, name = ks_id.partition("/")
    return namespace, name


def _crd_edges(graph: ClusterGraph, render: Any, fgraph: flux.FluxGraph, extra: list[str]) -> None:
    """Provider -> Kustomization for the CRD groups a Kustomization's objects use, one edge per pair.

    The provider drawn is a Kustomization: the one whose output holds the CRDs, the one annotated as
    installing them, or the one applying the HelmRelease that installs them (releases list their CRD groups
    themselves). The edge is not ok when no dependsOn chain orders the provider first, which is when
    flux/crd-not-installed-first reports the objects."""
    providers: dict[str, set[str]] = {}  # group -> Kustomization node ids
    for key, items in render.by_kustomization.items():
        for manifest in items:
            obj = manifest.obj
            if obj.get("kind") == "CustomResourceDefinition" and _spec(obj).get("group"):
                providers.setdefault(str(_spec(obj)["group"]), set()).add(_ks_id(key))
    for node in graph.nodes.values():
        holder = node.id if node.kind == "Kustomization" else node.parent if node.kind == "HelmRelease" else None
        if holder:
            for group in node.provides:
                providers.setdefault(group, set()).add(holder)
    for key, items in render.by_kustomization.items():
        me = _ks_id(key)
        closure = fgraph.closure(key)
        used: dict[str, set[str]] = {}
        for manifest in items:
            group = flux.api_group(manifest.obj.get("apiVersion"))
            # flux._preinstalled is the check's own notion of groups that need no CRD from this repository
            if not group or flux._preinstalled(group, extra):
                continue
            for provider in providers.get(group, set()):
                if provider != me and provider in graph.nodes:
                    used.setdefault(provider, set()).add(group)
        for provider, groups in sorted(used.items()):
            ok = any(k in closure for k in _appliers(graph, provider))
            graph.add_edge(Edge(provider, me, "crds", crd_label(sorted(groups)), ok))


def crd_label(groups: list[str], shown: int = 3) -> str:
    head = ", ".join(groups[:shown])
    return f"CRDs {head}" + (f" +{len(groups) - shown}" if len(groups) > shown else "")


def _appliers(graph: ClusterGraph, provider: str) -> list[tuple[str, str]]:
    """The provider Kustomization and every Kustomization that applies it, up the chain: a Kustomization with
    `wait: true` is Ready only when what it applies is, so depending on any of them orders the CRD first
    (the same reading as flux.crd_order_findings, where an applied Kustomization's CRDs count for its parent)."""
    chain: list[tuple[str, str]] = []
    current: str | None = provider
    while current and current in graph.nodes and len(chain) <= len(graph.nodes):
        node = graph.nodes[current]
        if (node.namespace, node.name) not in chain:
            chain.append((node.namespace, node.name))
        current = node.parent
    return chain


def attach_findings(graph: ClusterGraph, render: Any, findings: Iterable[Finding]) -> None:
    """Count each finding of this cluster on the node it concerns: the object it names, else the node whose
    document holds its line, else the Kustomization that applies the object or file (a finding on a
    Deployment marks `apps`). Findings about files no Kustomization reads (pool files, Terraform) stay off."""
    by_ref = {(n.kind, n.namespace, n.name): n for n in graph.nodes.values()}
    by_file: dict[str, list[Node]] = {}
    for n in graph.nodes.values():
        if n.file:
            by_file.setdefault(n.file, []).append(n)
    for nodes in by_file.values():
        nodes.sort(key=lambda n: n.line or 0)
    applier_of_ref: dict[ObjectRef, str] = {}
    applier_of_file: dict[str, str] = {}
    for key, items in render.by_kustomization.items():
        for manifest in items:
            applier_of_ref.setdefault(manifest.ref, _ks_id(key))
            applier_of_file.setdefault(manifest.source.file, _ks_id(key))
    for f in findings:
        if f.cluster not in (None, graph.cluster):
            continue
        node = None
        if f.object is not None:
            node = by_ref.get((f.object.kind, f.object.namespace or "flux-system", f.object.name)) or by_ref.get(
                (f.object.kind, f.object.namespace or "", f.object.name)
            )
        if node is None and f.file in by_file and f.line:
            before = [n for n in by_file[f.file] if (n.line or 0) <= f.line]
            # the document that starts last before the line holds it, unless another object sits between
            if before and (f.object is None or f.object.kind == before[-1].kind):
                node = before[-1]
        if node is None:
            applier = (applier_of_ref.get(f.object) if f.object is not None else None) or applier_of_file.get(
                f.file or ""
            )
            node = graph.nodes.get(applier) if applier else None
        if node is None:
            continue
        node.findings[f.severity.value] = node.findings.get(f.severity.value, 0) + 1
        if f.rule not in node.rules:
            node.rules.append(f.rule)


# ---------------------------------------------------------------- pull request against its base


def diff_graphs(base: ClusterGraph | None, head: ClusterGraph) -> ClusterGraph:
    """`head` with each node's status against `base`; nodes only the base has come back as `removed`."""
    if base is None:
        for node in head.nodes.values():
            node.status = "added"
        return head
    for nid, node in head.nodes.items():
        old = base.nodes.get(nid)
        node.status = "added" if old is None else "changed" if old.digest != node.digest else "unchanged"
    for nid, old in base.nodes.items():
        if nid not in head.nodes:
            old.status = "removed"
            old.findings = {}
            head.nodes[nid] = old
    for edge in base.edges:
        if edge.source in head.nodes and edge.target in head.nodes and (
            head.nodes[edge.source].status == "removed" or head.nodes[edge.target].status == "removed"
        ):
            head.add_edge(edge)
    return head


def changed_only(graph: ClusterGraph) -> ClusterGraph:
    """The changed nodes, their direct neighbours (for context) and the Kustomizations that hold them."""
    changed = {nid for nid, n in graph.nodes.items() if n.status in ("added", "changed", "removed")}
    keep = set(changed)
    for edge in graph.edges:
        if edge.source in changed or edge.target in changed:
            keep.update((edge.source, edge.target))
    for nid in list(keep):
        parent = graph.nodes[nid].parent
        while parent and parent in graph.nodes and parent not in keep:
            keep.add(parent)
            parent = graph.nodes[parent].parent
    out = ClusterGraph(graph.cluster)
    out.nodes = {nid: n for nid, n in graph.nodes.items() if nid in keep}
    out.edges = [e for e in graph.edges if e.source in keep and e.target in keep]
    return out
