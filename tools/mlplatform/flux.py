"""Flux discovery per cluster: Kustomizations, sources, the dependsOn graph and its errors, CRD ordering."""

from __future__ import annotations

import posixpath
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import contain
from .contain import safe_resolve
from .errors import InputError
from .model import Finding, Manifest, Severity

# FluxBuildOptions is part of this module's API (FluxKustomization.options; cluster_render builds one as
# flux.FluxBuildOptions): the `as` form re-exports it explicitly
from .render import FluxBuildOptions as FluxBuildOptions
from .render import printable, rel
from .suggest import did_you_mean
from .yamlio import LineDict, load_documents, mapping, plain

KUSTOMIZATION_GROUP = "kustomize.toolkit.fluxcd.io"
SOURCE_GROUPS = ("source.toolkit.fluxcd.io", "source.extensions.fluxcd.io")
SOURCE_KINDS = (
    "GitRepository",
    "OCIRepository",
    "Bucket",
    "HelmRepository",
    "HelmChart",
    "ExternalArtifact",
    "ArtifactGenerator",
)
PROVIDES_CRDS = "mlplatform.example.com/provides-crds"

# API groups served by the Kubernetes API server itself (no CRD needed). Source: kubernetes/api, v1.34.
BUILTIN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "rbac.authorization.k8s.io",
        "networking.k8s.io",
        "storage.k8s.io",
        "scheduling.k8s.io",
        "coordination.k8s.io",
        "node.k8s.io",
        "discovery.k8s.io",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "certificates.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "resource.k8s.io",
        "storagemigration.k8s.io",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "internal.apiserver.k8s.io",
    }
)
# Installed by Flux bootstrap (the controllers' CRDs) and by EKS itself (VPC CNI, network policy agent).
PREINSTALLED_GROUP_SUFFIXES = ("toolkit.fluxcd.io", "extensions.fluxcd.io")  # Flux 2.7 source-watcher too
PREINSTALLED_GROUPS = frozenset({"vpcresources.k8s.aws", "crd.k8s.amazonaws.com", "networking.k8s.aws"})


def api_group(api_version: Any) -> str:
    text = str(api_version or "")
    return text.split("/", 1)[0] if "/" in text else ""


def is_flux_kustomization(obj: dict[str, Any]) -> bool:
    return obj.get("kind") == "Kustomization" and api_group(obj.get("apiVersion")) == KUSTOMIZATION_GROUP


def is_flux_source(obj: dict[str, Any]) -> bool:
    return obj.get("kind") in SOURCE_KINDS and api_group(obj.get("apiVersion")) in SOURCE_GROUPS


def _line_in(doc: Any, keys: Iterable[Any], default: int) -> int:
    """Line of a nested key in a LineDict tree (the deepest known line on the way)."""
    line = default
    node = doc
    for key in keys:
        if isinstance(node, LineDict) and key in node:
            line = node.line_of(key)
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            items = getattr(node, "item_lines", None)
            if items and key < len(items):
                line = items[key]
            node = node[key]
        else:
            break
    return line


@dataclass
class FluxSource:
    kind: str
    namespace: str
    name: str
    file: str
    line: int
    url: str = ""  # spec.url of a GitRepository/OCIRepository (a GitRepository of this repository's URL reads it)
    # the ExternalArtifacts an ArtifactGenerator produces (source-watcher api/v1beta1, spec.artifacts[].name,
    # created in the generator's namespace)
    produces: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)


@dataclass
class DependsOn:
    namespace: str
    name: str
    line: int


@dataclass
class FluxKustomization:
    """A Flux Kustomization (kustomize.toolkit.fluxcd.io) of one cluster."""

    name: str
    namespace: str
    path: str
    source_kind: str
    source_name: str
    source_namespace: str
    depends_on: list[DependsOn]
    post_build: dict[str, Any] | None
    options: FluxBuildOptions
    file: str
    line: int
    obj: dict[str, Any]
    # The source document with line numbers, when known (fields of findings point into it).
    source_doc: Any = None
    rendered_by: str | None = None  # "namespace/name" of the Flux Kustomization whose output holds it

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"

    def line_of(self, *keys: Any) -> int:
        if self.source_doc is None:
            return self.line
        return _line_in(self.source_doc, keys, self.line)

    def directory(self, repo: Path) -> Path:
        return repo / normalize_path(self.path)

    def finding(self, rule: str, severity: Severity, cluster: str, line: int, message: str) -> Finding:
        """A finding about this Kustomization, at `line` of the file that defines it."""
        return Finding(rule=rule, severity=severity, cluster=cluster, file=self.file, line=line, message=message)


def normalize_path(path: str) -> str:
    """A Flux `path` relative to the source root ("./apps/x" -> "apps/x"; "" or "./" -> ".").

    A result starting with ".." leaves the source: Flux refuses it, and so do we."""
    text = (path or ".").strip().lstrip("/") or "."
    return posixpath.normpath(text)


def path_problem(path: str) -> str | None:
    """Why kustomize-controller cannot use `path` as written, or None. Flux joins spec.path to the source
    root as is (fluxcd/kustomize-controller, SecureJoin then a stat of the directory): " ./apps " names a
    directory with spaces in its name, which git checkouts of this repository do not have."""
    problem = contain.bad_name(path)
    if problem:
        return problem
    if path != path.strip():
        return "has leading or trailing whitespace (Flux uses the path as written and finds no such directory)"
    return None


def leaves_repository(repo: Path, path: str) -> bool:
    normalized = normalize_path(path)
    if normalized == ".." or normalized.startswith("../"):
        return True
    target, root = safe_resolve(repo / normalized), safe_resolve(repo)
    # a symlink loop is not outside: it is a path that does not exist (reported as such)
    return target is not None and root is not None and not target.is_relative_to(root)


def parse_kustomization(
    obj: dict[str, Any], file: str, line: int, source_doc: Any = None
) -> FluxKustomization:
    meta = mapping(obj.get("metadata"))
    spec = mapping(obj.get("spec"))
    namespace = str(meta.get("namespace") or "flux-system")
    source = mapping(spec.get("sourceRef"))
    depends: list[DependsOn] = []
    raw_deps = spec.get("dependsOn") or []
    for i, dep in enumerate(raw_deps if isinstance(raw_deps, list) else []):
        if isinstance(dep, dict) and dep.get("name"):
            dep_line = (
                _line_in(source_doc, ("spec", "dependsOn", i), line) if source_doc is not None else line
            )
            depends.append(DependsOn(str(dep.get("namespace") or namespace), str(dep["name"]), dep_line))
    patches = raw if isinstance(raw := spec.get("patches"), list) else []
    images = raw if isinstance(raw := spec.get("images"), list) else []
    components = raw if isinstance(raw := spec.get("components"), list) else []
    options = FluxBuildOptions(
        target_namespace=str(spec["targetNamespace"]) if spec.get("targetNamespace") else None,
        patches=[plain(p) for p in patches if isinstance(p, dict)],
        images=[plain(i) for i in images if isinstance(i, dict)],
        components=[str(c) for c in components if isinstance(c, str)],
        name_prefix=str(spec["namePrefix"]) if spec.get("namePrefix") else None,
        name_suffix=str(spec["nameSuffix"]) if spec.get("nameSuffix") else None,
    )
    post_build = spec.get("postBuild") if isinstance(spec.get("postBuild"), dict) else None
    return FluxKustomization(
        name=str(meta.get("name") or ""),
        namespace=namespace,
        path=str(spec.get("path") or ""),
        source_kind=str(source.get("kind") or ""),
        source_name=str(source.get("name") or ""),
        source_namespace=str(source.get("namespace") or namespace),
        depends_on=depends,
        post_build=post_build,
        options=options,
        file=file,
        line=line,
        obj=obj,
        source_doc=source_doc,
    )


def parse_source(obj: dict[str, Any], file: str, line: int) -> FluxSource:
    meta = mapping(obj.get("metadata"))
    spec = mapping(obj.get("spec"))
    produces: tuple[str, ...] = ()
    if obj.get("kind") == "ArtifactGenerator" and isinstance(spec.get("artifacts"), list):
        produces = tuple(str(a["name"]) for a in spec["artifacts"] if isinstance(a, dict) and a.get("name"))
    return FluxSource(
        kind=str(obj.get("kind")),
        namespace=str(meta.get("namespace") or "flux-system"),
        name=str(meta.get("name") or ""),
        file=file,
        line=line,
        url=str(spec.get("url") or ""),
        produces=produces,
    )


def same_repository(url_a: str, url_b: str) -> bool:
    """Two Git URLs naming one repository (ssh:// and https:// spellings, with or without .git)."""
    def key(url: str) -> str:
        text = url.strip().lower().rstrip("/")
        text = text.split("://", 1)[-1]
        text = text.split("@", 1)[-1]
        text = text.replace(":", "/", 1) if "/" not in text.split(":", 1)[0] else text
        return text.removesuffix(".git")

    return bool(url_a) and bool(url_b) and key(url_a) == key(url_b)


# ---------------------------------------------------------------- static scan of clusters/<cluster>/


@dataclass
class ScanResult:
    kustomizations: list[FluxKustomization] = field(default_factory=list)
    sources: list[FluxSource] = field(default_factory=list)


def scan_cluster_dir(repo: Path, root_path: str) -> ScanResult:
    """Flux objects in every YAML file under the cluster's root folder (hygiene reports unreadable files)."""
    result = ScanResult()
    root = repo / root_path
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    for path in files:
        try:
            docs = load_documents(path)
        except InputError:
            continue
        for doc in docs:
            if not isinstance(doc.data, dict):
                continue
            if is_flux_kustomization(doc.data):
                result.kustomizations.append(
                    parse_kustomization(doc.data, rel(repo, path), doc.line, doc.data)
                )
            elif is_flux_source(doc.data):
                result.sources.append(parse_source(doc.data, rel(repo, path), doc.line))
    return result


# ---------------------------------------------------------------- the graph


@dataclass
class FluxGraph:
    cluster: str
    kustomizations: dict[tuple[str, str], FluxKustomization] = field(default_factory=dict)
    sources: dict[tuple[str, str, str], FluxSource] = field(default_factory=dict)

    def add_kustomization(self, ks: FluxKustomization) -> bool:
        if ks.key in self.kustomizations:
            return False
        self.kustomizations[ks.key] = ks
        return True

    def add_source(self, source: FluxSource) -> None:
        self.sources.setdefault(source.key, source)
        for name in source.produces:  # an ArtifactGenerator's outputs are sources of their own
            self.sources.setdefault(
                ("ExternalArtifact", source.namespace, name),
                FluxSource("ExternalArtifact", source.namespace, name, source.file, source.line),
            )

    def dependency_order(self) -> list[FluxKustomization]:
        """Kustomizations with their dependencies first (file order among equals; cycles broken)."""
        order: list[FluxKustomization] = []
        seen: set[tuple[str, str]] = set()
        # Iterative depth-first post-order (a dependsOn chain of thousands must not reach Python's recursion
        # limit): each frame is a Kustomization and an iterator over its dependencies not yet visited.
        for root in self.kustomizations.values():
            if root.key in seen:
                continue
            seen.add(root.key)
            work = [(root, iter(root.depends_on))]
            while work:
                ks, deps = work[-1]
                for dep in deps:
                    target = self.kustomizations.get((dep.namespace, dep.name))
                    if target is not None and target.key not in seen:
                        seen.add(target.key)
                        work.append((target, iter(target.depends_on)))
                        break
                else:
                    work.pop()
                    order.append(ks)
        return order

    def closure(self, key: tuple[str, str]) -> set[tuple[str, str]]:
        """`key` and every Kustomization it transitively dependsOn."""
        seen: set[tuple[str, str]] = set()
        stack = [key]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            ks = self.kustomizations.get(current)
            if ks is not None:
                stack.extend((d.namespace, d.name) for d in ks.depends_on)
        return seen


def find_cycles(graph: FluxGraph) -> list[list[tuple[str, str]]]:
    """Each dependsOn cycle once, as the list of its members in dependency order (Tarjan's SCCs)."""
    index: dict[tuple[str, str], int] = {}
    low: dict[tuple[str, str], int] = {}
    on_stack: set[tuple[str, str]] = set()
    stack: list[tuple[str, str]] = []
    cycles: list[list[tuple[str, str]]] = []
    counter = [0]

    def edges(key: tuple[str, str]) -> list[tuple[str, str]]:
        ks = graph.kustomizations[key]
        return [(d.namespace, d.name) for d in ks.depends_on if (d.namespace, d.name) in graph.kustomizations]

    def strongconnect(v: tuple[str, str]) -> None:
        # iterative Tarjan: a deep chain of Kustomizations must not hit Python's recursion limit
        work = [(v, iter(edges(v)))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(edges(w))))
                    advanced = True
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == node:
                        break
                self_loop = node in edges(node)
                if len(component) > 1 or self_loop:
                    cycles.append(_cycle_path(graph, sorted(component)))

    for key in graph.kustomizations:
        if key not in index:
            strongconnect(key)
    return cycles


def _cycle_path(graph: FluxGraph, members: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The shortest dependsOn path inside the component from its first member back to it: a readable cycle."""
    member_set = set(members)
    start = members[0]
    previous: dict[tuple[str, str], tuple[str, str]] = {}
    queue = deque([start])
    visited = {start}
    while queue:
        current = queue.popleft()
        for dep in graph.kustomizations[current].depends_on:
            nxt = (dep.namespace, dep.name)
            if nxt not in member_set:
                continue
            if nxt == start:
                path = [current]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return list(reversed(path))
            if nxt not in visited:
                visited.add(nxt)
                previous[nxt] = current
                queue.append(nxt)
    return members


def is_self_source(ks: FluxKustomization, self_sources: set[tuple[str, str, str]]) -> bool:
    return (ks.source_kind, ks.source_namespace, ks.source_name) in self_sources


def graph_findings(
    graph: FluxGraph,
    repo: Path,
    self_sources: set[tuple[str, str, str]],
    mapped: dict[tuple[str, str, str], Path] | None = None,
) -> list[Finding]:
    """Dangling dependsOn, cycles, missing or escaping paths, unknown sources (paths of a source mapped to a
    local folder are checked in that folder)."""
    mapped = mapped or {}
    findings: list[Finding] = []
    cluster = graph.cluster
    for ks in graph.kustomizations.values():
        for dep in ks.depends_on:
            if (dep.namespace, dep.name) not in graph.kustomizations:
                names = [n for ns, n in graph.kustomizations if ns == dep.namespace and n != ks.name]
                findings.append(
                    ks.finding(
                        "flux/depends-on-missing",
                        Severity.ERROR,
                        cluster,
                        dep.line,
                        f"Kustomization {ks.id} dependsOn {dep.namespace}/{dep.name}, which no Flux "
                        f"Kustomization of this cluster defines (Flux waits for it forever)"
                        f"{did_you_mean(dep.name, names)}",
                    )
                )
        source_key = (ks.source_kind, ks.source_namespace, ks.source_name)
        if not ks.source_kind or not ks.source_name:
            findings.append(
                ks.finding(
                    "flux/source-missing",
                    Severity.ERROR,
                    cluster,
                    ks.line_of("spec"),
                    f"Kustomization {ks.id} has no sourceRef kind and name",
                )
            )
        elif source_key not in graph.sources and not is_self_source(ks, self_sources) and source_key not in mapped:
            # The source may exist in the cluster without being in the repository (created by Terraform, by
            # another repository, by a controller): an info naming what was not rendered. A close name among
            # the sources of that kind and namespace makes it a typo, which Flux would wait on forever: an error.
            suggestion = did_you_mean(
                ks.source_name,
                [n for kind, ns, n in graph.sources if (kind, ns) == (ks.source_kind, ks.source_namespace)],
            )
            findings.append(
                ks.finding(
                    "flux/source-missing",
                    Severity.ERROR if suggestion else Severity.INFO,
                    cluster,
                    ks.line_of("spec", "sourceRef"),
                    f"Kustomization {ks.id} has sourceRef {ks.source_kind} {ks.source_namespace}/"
                    f"{ks.source_name}, which no object of this repository defines and no --source maps: "
                    f"its path '{ks.path}' is not rendered{suggestion}",
                )
            )
        if is_self_source(ks, self_sources):
            root = repo
        elif source_key in mapped:
            root = mapped[source_key]
        else:
            continue
        target = root / normalize_path(ks.path)
        problem = path_problem(ks.path)
        if problem:
            shown = printable(repr(ks.path))
            findings.append(
                ks.finding(
                    "flux/path-invalid",
                    Severity.ERROR,
                    cluster,
                    ks.line_of("spec", "path"),
                    f"Kustomization {ks.id} path {shown[:200]} {problem}",
                )
            )
        elif leaves_repository(root, ks.path):
            findings.append(
                ks.finding(
                    "flux/path-outside-repository",
                    Severity.ERROR,
                    cluster,
                    ks.line_of("spec", "path"),
                    f"Kustomization {ks.id} path '{ks.path}' leaves the repository",
                )
            )
        elif not target.is_dir():
            findings.append(
                ks.finding(
                    "flux/path-missing",
                    Severity.ERROR,
                    cluster,
                    ks.line_of("spec", "path"),
                    f"Kustomization {ks.id} path '{ks.path}' is not a directory of the repository",
                )
            )
    for cycle in find_cycles(graph):
        names = [f"{ns}/{name}" for ns, name in cycle]
        first = graph.kustomizations[cycle[0]]
        dep_line = next((d.line for d in first.depends_on if (d.namespace, d.name) in set(cycle)), first.line)
        findings.append(
            Finding(
                rule="flux/dependency-cycle",
                severity=Severity.ERROR,
                cluster=cluster,
                file=first.file,
                line=dep_line,
                message="dependsOn cycle: "
                + " -> ".join([*names, names[0]])
                + " (none of them will ever reconcile)",
            )
        )
    return findings


# ---------------------------------------------------------------- CRD ordering


def _preinstalled(group: str, extra: Iterable[str]) -> bool:
    return (
        group in BUILTIN_GROUPS
        or group in PREINSTALLED_GROUPS
        or group in set(extra)
        or any(group == s or group.endswith("." + s) for s in PREINSTALLED_GROUP_SUFFIXES)
    )


def provided_kinds(
    manifests: Iterable[Manifest], helm_crds: dict[str, list[str]] | None = None
) -> set[tuple[str, str]]:
    """(group, kind) pairs these objects install; kind "*" stands for every kind of a group (the annotation
    names groups only). CRD objects (rendered by kustomize, or from a chart by the Helm render), HelmReleases
    declared in `helm_crds` ({"<namespace>/<name>": ["<group>/<Kind>"]}) or annotated with PROVIDES_CRDS."""
    provided: set[tuple[str, str]] = set()
    for manifest in manifests:
        obj = manifest.obj
        kind = obj.get("kind")
        if kind == "CustomResourceDefinition" and api_group(obj.get("apiVersion")) == "apiextensions.k8s.io":
            spec = mapping(obj.get("spec"))
            names = mapping(spec.get("names"))
            if spec.get("group"):
                provided.add((str(spec["group"]), str(names.get("kind") or "*")))
        if kind == "HelmRelease" and helm_crds:
            for entry in helm_crds.get(f"{manifest.ref.namespace or 'default'}/{manifest.ref.name}", []):
                group, _, crd_kind = entry.rpartition("/")
                provided.add((group, crd_kind or "*"))
        annotation = (
            manifest.annotations.get(PROVIDES_CRDS) if isinstance(manifest.annotations, dict) else None
        )
        if isinstance(annotation, str) and (kind == "HelmRelease" or is_flux_kustomization(obj)):
            provided.update((group, "*") for group in _groups_of(annotation))
    return provided


def _groups_of(annotation: str) -> set[str]:
    return {g.strip() for g in annotation.split(",") if g.strip()}


def _declares(manifest: Manifest, helm_crds: dict[str, list[str]]) -> bool:
    """True when what a HelmRelease installs is known: declared in helm_crds or annotated."""
    key = f"{manifest.ref.namespace or 'default'}/{manifest.ref.name}"
    annotations = manifest.annotations if isinstance(manifest.annotations, dict) else {}
    return key in helm_crds or isinstance(annotations.get(PROVIDES_CRDS), str)


def crd_order_findings(
    graph: FluxGraph,
    by_kustomization: dict[tuple[str, str], list[Manifest]],
    extra_preinstalled: Iterable[str] = (),
    helm_crds: dict[str, list[str]] | None = None,
) -> list[Finding]:
    """A custom resource whose CRD no Kustomization it (transitively) depends on provides.

    kustomize-controller applies CustomResourceDefinitions before the other objects of one Kustomization
    (fluxcd/pkg ssa, the apply stages), so a CRD of the Kustomization itself counts. A HelmRelease in the
    chain whose CRDs are not known (chart not rendered, nothing declared) may install the CRD: an info
    naming it, never an error."""
    extra = list(extra_preinstalled)
    declared = helm_crds or {}
    provides = {key: provided_kinds(items, declared) for key, items in by_kustomization.items()}
    # A Flux Kustomization annotated as installing CRDs provides them to whatever depends on it, even when it
    # reads another source and so has no rendered output here.
    for key, ks in graph.kustomizations.items():
        annotations = (ks.obj.get("metadata") or {}).get("annotations") if isinstance(ks.obj, dict) else None
        if isinstance(annotations, dict) and isinstance(annotations.get(PROVIDES_CRDS), str):
            provides.setdefault(key, set()).update((g, "*") for g in _groups_of(annotations[PROVIDES_CRDS]))
    unknown_releases = {
        key: sorted(f"{m.ref.namespace or 'default'}/{m.ref.name}" for m in items
                    if m.obj.get("kind") == "HelmRelease" and not _declares(m, declared))
        for key, items in by_kustomization.items()
    }

    def has(pairs: set[tuple[str, str]], group: str, kind: str) -> bool:
        return (group, kind) in pairs or (group, "*") in pairs

    findings: list[Finding] = []
    for key, items in by_kustomization.items():
        closure = graph.closure(key)
        if any(dep not in graph.kustomizations for dep in closure):
            # A dependsOn names a Kustomization that does not exist (flux/depends-on-missing says which): the
            # ordering it was meant to give is unknown, and every custom resource below would repeat that.
            continue
        available: set[tuple[str, str]] = set()
        maybe: list[str] = []
        for dep in closure:
            available |= provides.get(dep, set())
            maybe += unknown_releases.get(dep, [])
        owner = graph.kustomizations.get(key)
        ks_id = owner.id if owner else f"{key[0]}/{key[1]}"
        reported: set[tuple[str, str]] = set()
        for manifest in items:
            group = api_group(manifest.obj.get("apiVersion"))
            kind = str(manifest.obj.get("kind"))
            if _preinstalled(group, extra) or has(available, group, kind):
                continue
            elsewhere = sorted(f"{k[0]}/{k[1]}" for k, pairs in provides.items() if has(pairs, group, kind))
            if (group, kind) in reported and not elsewhere:
                continue
            reported.add((group, kind))
            if elsewhere:
                findings.append(Finding.on(
                    manifest, "flux/crd-not-installed-first", Severity.ERROR,
                    f"{kind} ({group}) is applied by Kustomization {ks_id}; its CRD is provided by "
                    f"{', '.join(elsewhere)}, which is not in the dependsOn chain of {ks_id}: add a dependsOn "
                    "on it, or Flux may apply this object before its CRD exists"))
            elif maybe:
                findings.append(Finding.on(
                    manifest, "flux/crd-unknown", Severity.INFO,
                    f"{kind} ({group}) is applied by Kustomization {ks_id}; its CRD may come from HelmRelease "
                    f"{', '.join(sorted(set(maybe)))}, whose chart was not rendered: declare what it installs "
                    f"under helm_crds in .mlplatform.yaml ({{<namespace>/<release>: [{group}/{kind}]}}) so the "
                    "order can be checked"))
            else:
                findings.append(Finding.on(
                    manifest, "flux/crd-not-installed-first", Severity.ERROR,
                    f"{kind} ({group}) is applied by Kustomization {ks_id}, but no CustomResourceDefinition of "
                    f"{kind}.{group} is applied by it or by a Kustomization it dependsOn, and no HelmRelease "
                    "there declares it (helm_crds in .mlplatform.yaml): the API server will refuse this object "
                    "(add the CRD, a dependsOn on what installs it, or list the group in "
                    "preinstalled_crd_groups when the cluster has it already)"))
    return findings
