"""The cluster render pipeline: every Flux Kustomization of one cluster built as Flux would (kustomize,
substitution, discovery of Kustomizations that create Kustomizations), with provenance for each object."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import admission, contain, flux, sops
from .config import Config
from .errors import InputError, ToolError, unknown_clusters
from .flux_bootstrap import strict_substitutions
from .helm_cluster import render_helm_releases
from .model import Finding, Manifest, ObjectRef, Severity
from .provenance import ProvenanceIndex, SourceProvenance, build_index
from .render import (
    KustomizeTool,
    KustTree,
    PlainLoader,
    RenderedDoc,
    SourceCache,
    build,
    find_kustomize,
    jobs_of,
    kustomization_file,
    rel,
    timeout_of,
    walk_components,
    walk_kustomization,
)
from .substitute import DISABLED_KEY, Variables, collect_variables, disabled, substitute_text
from .yamlio import plain

MAX_DISCOVERY_ROUNDS = 50  # Kustomizations that create Kustomizations: a deeper chain than this is a loop

# Kinds without a namespace (targetNamespace on directories without a kustomization.yaml, where we apply it).
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
        "IngressClass",
        "RuntimeClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "APIService",
        "CSIDriver",
        "CSINode",
        "VolumeAttachment",
        "CertificateSigningRequest",
        "FlowSchema",
        "PriorityLevelConfiguration",
        "ClusterIssuer",
        "ClusterSecretStore",
        "ClusterPolicy",
        "ClusterQueue",
        "ResourceFlavor",
        "GatewayClass",
        "NodePool",
        "EC2NodeClass",
        "DeviceClass",
    }
)


@dataclass
class KustomizationRender:
    """The output of one Flux Kustomization: objects with their text, the tree and the provenance index."""

    ks: flux.FluxKustomization
    docs: list[RenderedDoc] = field(default_factory=list)
    tree: KustTree | None = None
    index: ProvenanceIndex | None = None
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    root: Path | None = None  # the source root its files are relative to (the repository, or a --source folder)


@dataclass
class ClusterRender:
    cluster: str
    manifests: list[Manifest] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    graph: flux.FluxGraph | None = None
    by_kustomization: dict[tuple[str, str], list[Manifest]] = field(default_factory=dict)
    renders: dict[tuple[str, str], KustomizationRender] = field(default_factory=dict)
    # Kustomizations whose output lost an object after the build (substitution error, unreadable output):
    # `render --out` must not replace a good file with their partial output.
    incomplete: set[tuple[str, str]] = field(default_factory=set)
    seconds: float = 0.0


# ---------------------------------------------------------------- rendering one cluster


def _render_plain_directory(
    tool: KustomizeTool,
    repo: Path,
    directory: Path,
    ks: flux.FluxKustomization,
    cache: SourceCache,
    cluster: str,
    timeout: float,
) -> KustomizationRender:
    """A Flux path without kustomization.yaml: Flux generates one with every manifest file and every
    subdirectory that has its own kustomization; we load those files directly and build the subdirectories."""
    out = KustomizationRender(ks=ks, tree=KustTree(root=directory))
    assert out.tree is not None

    def escape(entry: Path, message: str, rule: str = "render/outside-repository") -> None:
        out.findings.append(
            ks.finding(rule, Severity.ERROR, cluster, ks.line_of("spec", "path"),
                       f"Kustomization {ks.id}: {rel(repo, entry)} {message}")
        )

    # contain.walk: iterative, never through a symlink out of the repository, each real directory once
    for item in contain.walk(repo, directory, lambda d: kustomization_file(d) is None):
        entry = item.path
        if item.kind == "outside":
            escape(entry, "is a symlink that leaves the repository; it is not read")
        elif item.kind == "loop":
            escape(entry, "is a symlink loop (a directory reached twice); it is not read again",
                   "render/unreadable-input")
        elif item.kind in ("bad-name", "limit"):
            escape(entry, f"cannot be read: {item.detail}", "render/unreadable-input")
        elif item.kind == "directory":
            sub = walk_kustomization(repo, entry, cluster, cache)
            out.findings.extend(sub.findings)
            out.tree.resource_files.extend(sub.resource_files)
            out.tree.patch_files.extend(sub.patch_files)
            out.tree.generators.extend(sub.generators)
            out.tree.name_prefixes |= sub.name_prefixes
            out.tree.name_suffixes |= sub.name_suffixes
            if not sub.blocking:
                built = build(
                    tool, repo, entry, sub, flux.FluxBuildOptions(), cluster=cluster, timeout=timeout,
                    memo=cache.builds,
                )
                out.docs.extend(built.docs)
                out.findings.extend(built.findings)
        elif item.kind == "file" and entry.suffix in (".yaml", ".yml", ".json"):
            docs = cache.documents(entry)
            if isinstance(docs, InputError):
                continue  # hygiene reports unreadable files
            out.tree.resource_files.append(entry)
            for doc in docs:
                if isinstance(doc.data, dict) and doc.data.get("kind") and doc.data.get("apiVersion"):
                    obj = plain(doc.data)
                    out.docs.append(RenderedDoc(obj, yaml.safe_dump(obj, sort_keys=False)))

    options = ks.options
    if options.target_namespace:
        for rdoc in out.docs:
            if rdoc.obj.get("kind") not in CLUSTER_SCOPED_KINDS and isinstance(rdoc.obj.get("metadata"), dict):
                rdoc.obj["metadata"]["namespace"] = options.target_namespace
                rdoc.text = yaml.safe_dump(rdoc.obj, sort_keys=False)
    if options.patches or options.images or options.components or options.name_prefix or options.name_suffix:
        out.findings.append(
            ks.finding(
                "render/unsupported-field",
                Severity.INFO,
                cluster,
                ks.line_of("spec"),
                f"Kustomization {ks.id}: patches, images, components and name prefixes are not "
                f"applied when rendering a path without kustomization.yaml ({ks.path}); add one to check "
                "them",
            )
        )
    return out


def _build_ahead(
    tool: KustomizeTool, repo: Path, ks: flux.FluxKustomization, cache: SourceCache, cluster: str, timeout: float
) -> None:
    """The build _render_one would make for `ks`, for its output alone (kept in cache.builds)."""
    directory = ks.directory(repo)
    if flux.leaves_repository(repo, ks.path) or kustomization_file(directory) is None:
        return
    tree = walk_kustomization(repo, directory, cluster, cache)
    if ks.options.components:
        walk_components(repo, tree, directory, ks.options.components, ks.file,
                        ks.line_of("spec", "components"), cluster, cache)
    if not tree.blocking:
        build(tool, repo, directory, tree, ks.options, cluster=cluster, timeout=timeout, memo=cache.builds)


def _render_one(
    tool: KustomizeTool,
    repo: Path,
    ks: flux.FluxKustomization,
    cache: SourceCache,
    cluster: str,
    timeout: float,
) -> KustomizationRender:
    started = time.perf_counter()
    directory = ks.directory(repo)
    if kustomization_file(directory) is None:
        out = _render_plain_directory(tool, repo, directory, ks, cache, cluster, timeout)
    else:
        tree = walk_kustomization(repo, directory, cluster, cache)
        if ks.options.components:
            walk_components(repo, tree, directory, ks.options.components, ks.file,
                            ks.line_of("spec", "components"), cluster, cache)
        out = KustomizationRender(ks=ks, tree=tree, findings=list(tree.findings))
        if not tree.blocking:
            built = build(tool, repo, directory, tree, ks.options, cluster=cluster, timeout=timeout, memo=cache.builds)
            out.docs = built.docs
            out.findings.extend(built.findings)
    assert out.tree is not None
    out.index = build_index(
        repo, out.tree, cache, flux_kustomization=ks.name, extra_prefixes=(ks.options.name_prefix,)
    )
    out.seconds = time.perf_counter() - started
    out.root = repo
    return out


class _ObjectIndex:
    """ConfigMaps and Secrets of the cluster by (kind, namespace, name), for substituteFrom.

    Rendered documents are indexed by their metadata alone and parsed only when a Kustomization reads them."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], RenderedDoc | dict[str, Any]] = {}

    def add(self, obj: dict[str, Any], default_namespace: str | None = None) -> None:
        kind = obj.get("kind")
        if kind not in ("ConfigMap", "Secret") or obj.get("apiVersion") != "v1":
            return
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = {}
        namespace = meta.get("namespace") or default_namespace or "default"
        self.objects[(str(kind), str(namespace), str(meta.get("name") or ""))] = obj

    def add_doc(self, doc: RenderedDoc, default_namespace: str | None = None) -> None:
        kind = "ConfigMap" if doc.has_kind(("ConfigMap",)) else "Secret"
        meta = doc.metadata()
        namespace = meta.get("namespace") or default_namespace or "default"
        self.objects[(kind, str(namespace), str(meta.get("name") or ""))] = doc

    def find(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get((kind, namespace, name))
        if isinstance(found, RenderedDoc):
            obj = found.obj
            return obj if obj.get("apiVersion") == "v1" else None
        return found


def _variables(
    ks: flux.FluxKustomization, objects: _ObjectIndex, cluster: str
) -> tuple[Variables, list[Finding]]:
    def where(keys: tuple[Any, ...]) -> tuple[str, int]:
        return ks.file, ks.line_of("spec", "postBuild", *keys)

    return collect_variables(ks.post_build, ks.namespace, objects.find, where, cluster)


def _needle_line(repo: Path, file: str, start: int, needle: str) -> int:
    """The line of `needle` in a source file at or after `start` (the document start when not found)."""
    try:
        lines = (repo / file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return start
    for number in range(max(start, 1), len(lines) + 1):
        if needle in lines[number - 1]:
            return number
    return start


def render_cluster(
    repo: Path,
    config: Config,
    cluster: str,
    *,
    tool: KustomizeTool | None = None,
    cache: SourceCache | None = None,
) -> ClusterRender:
    """Discover the cluster's Flux Kustomizations, build each one, substitute, and trace every object."""
    started = time.perf_counter()
    tool = tool or find_kustomize(repo, config)
    cache = cache or SourceCache()
    cache.builds.attach_store(repo, config.build_cache)  # outputs of earlier runs (buildcache.py)
    timeout = timeout_of(config)
    result = ClusterRender(cluster=cluster)
    cluster_root = config.cluster_roots().get(cluster)
    if cluster_root is None:
        raise unknown_clusters([cluster], config.clusters())
    root_path = cluster_root.path
    if not (repo / root_path).is_dir():
        raise ToolError(f"cluster '{cluster}' not found: no directory {root_path}")

    scan = flux.scan_cluster_dir(repo, root_path)
    graph = flux.FluxGraph(cluster)
    result.graph = graph
    for source in scan.sources:
        graph.add_source(source)
    roots = [ks for ks in scan.kustomizations if flux.normalize_path(ks.path) == root_path]
    self_sources = {("GitRepository", "flux-system", "flux-system")}
    self_sources |= {(ks.source_kind, ks.source_namespace, ks.source_name) for ks in roots}
    self_sources.add((cluster_root.source_kind, cluster_root.source_namespace, cluster_root.source_name))
    mapped = source_folders(repo, config)
    frontier = [ks for ks in (roots or scan.kustomizations) if graph.add_kustomization(ks)]

    objects = _ObjectIndex()
    rounds = 0
    with ThreadPoolExecutor(max_workers=jobs_of(config)) as pool:
        # Discovery goes in rounds (the root's output names the next Kustomizations), which would leave the
        # cores idle between rounds. The Kustomizations found in clusters/<cluster>/ are built ahead, into
        # the run's BuildMemo: when discovery reaches one, an identical build is already done or under way
        # (one whose spec the root's build changed has another key and is simply built then).
        ahead = [ks for ks in scan.kustomizations if ks not in frontier and flux.is_self_source(ks, self_sources)]
        for ks in ahead:
            pool.submit(_build_ahead, tool, repo, ks, cache, cluster, timeout)
        while frontier and rounds < MAX_DISCOVERY_ROUNDS:
            rounds += 1
            buildable = []
            for ks in frontier:
                _add_self_repository_sources(graph, self_sources)
                source_key = (ks.source_kind, ks.source_namespace, ks.source_name)
                root = repo if flux.is_self_source(ks, self_sources) else mapped.get(source_key)
                if root is None:
                    if source_key in graph.sources:
                        result.findings.append(
                            ks.finding(
                                "flux/external-source",
                                Severity.INFO,
                                cluster,
                                ks.line_of("spec", "sourceRef"),
                                f"Kustomization {ks.id} reads {ks.source_kind} {ks.source_namespace}/"
                                f"{ks.source_name}, not this repository: its path '{ks.path}' is not rendered "
                                f"(map it to a local folder with --source {'/'.join(source_key)}=DIR)",
                            )
                        )
                    continue
                # a path with NUL bytes, over-long names or stray whitespace is reported by graph_findings
                directory = ks.directory(root)
                usable = flux.path_problem(ks.path) is None
                if usable and not flux.leaves_repository(root, ks.path) and directory.is_dir():
                    buildable.append((ks, root))
            renders = list(
                pool.map(lambda item: _render_one(tool, item[1], item[0], cache, cluster, timeout), buildable)
            )
            for render in renders:
                result.renders[render.ks.key] = render
                for doc in render.docs:
                    if doc.has_kind(("ConfigMap", "Secret")):
                        objects.add_doc(doc, render.ks.options.target_namespace)
            frontier = []
            for render in renders:
                frontier.extend(_discover_children(render, graph, objects, cluster))
    if frontier:
        result.findings.append(
            Finding(
                rule="flux/discovery-too-deep",
                severity=Severity.ERROR,
                cluster=cluster,
                file=frontier[0].file,
                line=frontier[0].line,
                message=f"Flux Kustomizations create Kustomizations more than "
                f"{MAX_DISCOVERY_ROUNDS} levels deep; stopped discovering",
            )
        )
    if roots:
        for ks in scan.kustomizations:
            if ks not in roots and getattr(graph.kustomizations.get(ks.key), "rendered_by", None) is None:
                result.findings.append(
                    ks.finding(
                        "flux/not-applied",
                        Severity.WARNING,
                        cluster,
                        ks.line,
                        f"Kustomization {ks.id} is in {root_path}/ but no Flux Kustomization "
                        "applies it "
                        f"(is it listed in the kustomization.yaml of {root_path}?)",
                    )
                )

    _substitute_all(repo, graph, result, objects, cluster)
    _collect_manifests(result)
    # HelmReleases after substitution (their values are substituted too), before CRD ordering (their CRDs count)
    charts, helm_findings = render_helm_releases(
        repo, config, cluster, result.by_kustomization, self_sources, tool, timeout, jobs_of(config)
    )
    result.manifests.extend(charts)
    result.findings.extend(helm_findings)
    # What the API server refuses whatever the schema says (names, 1 MiB ConfigMaps): admission.py.
    result.findings.extend(admission.check_objects(result.manifests))
    result.findings.extend(flux.graph_findings(graph, repo, self_sources, mapped))
    result.findings.extend(
        flux.crd_order_findings(
            graph,
            result.by_kustomization,
            config.preinstalled_crd_groups,
            config.helm_crds,
        )
    )
    if not result.manifests:
        # Flux would apply nothing: a wrong sync path or an empty tree, never a silent success
        result.findings.append(
            Finding(
                rule="flux/cluster-empty",
                severity=Severity.ERROR,
                cluster=cluster,
                file=cluster_root.file or root_path,
                line=cluster_root.line,
                message=f"cluster {cluster} renders no object (root {root_path}): check the sync path of its "
                "Flux bootstrap Kustomization and the kustomization.yaml there",
            )
        )
    result.seconds = time.perf_counter() - started
    return result


def source_folders(repo: Path, config: Config) -> dict[tuple[str, str, str], Path]:
    """Sources mapped to local folders (`--source KIND/NAMESPACE/NAME=DIR`, or `sources` in the
    configuration), as flux-local's `--sources`: a Kustomization reading one is rendered from the folder,
    which is then its source root (nothing outside it is read)."""
    mapped: dict[tuple[str, str, str], Path] = {}
    for key, folder in config.sources.items():
        kind, namespace, name = key.split("/", 2)
        path = Path(folder)
        mapped[(kind, namespace, name)] = (path if path.is_absolute() else repo / path).resolve()
    return mapped


def _add_self_repository_sources(graph: flux.FluxGraph, self_sources: set[tuple[str, str, str]]) -> None:
    """A GitRepository whose URL is this repository's (another name, another namespace) reads this
    repository too."""
    urls = [s.url for key, s in graph.sources.items() if key in self_sources and s.url]
    for key, source in graph.sources.items():
        if source.kind == "GitRepository" and any(flux.same_repository(source.url, url) for url in urls):
            self_sources.add(key)


def _discover_children(
    render: KustomizationRender, graph: flux.FluxGraph, objects: _ObjectIndex, cluster: str
) -> list[flux.FluxKustomization]:
    """Flux objects in a Kustomization's output (provisionally substituted): new ones to render next."""
    new: list[flux.FluxKustomization] = []
    variables: Variables | None = None
    for doc in render.docs:
        if not doc.has_kind(("Kustomization", *flux.SOURCE_KINDS)):
            continue
        obj = doc.obj
        if not (flux.is_flux_kustomization(obj) or flux.is_flux_source(obj)):
            continue
        if render.ks.post_build is not None and not disabled(obj):
            if variables is None:
                variables, _ = _variables(render.ks, objects, cluster)
            if variables.active():
                obj = substitute_text(doc.text, variables, PlainLoader).obj or obj
        assert render.index is not None
        source = render.index.locate(obj)
        if flux.is_flux_source(obj):
            graph.add_source(flux.parse_source(obj, source.file, source.line))
            continue
        child = flux.parse_kustomization(obj, source.file, source.line, source.data)
        child.rendered_by = render.ks.id
        existing = graph.kustomizations.get(child.key)
        if existing is None:
            graph.add_kustomization(child)
            new.append(child)
        elif existing.rendered_by is None:
            # found by the scan of clusters/<cluster>/ and also applied by a Kustomization: it is applied
            existing.rendered_by = render.ks.id
    return new


_VARIABLE = re.compile(r"(?<!\$)\$\{([_A-Za-z][_A-Za-z0-9]*)")


def _report_unsubstituted(
    repo: Path, ks: flux.FluxKustomization, render: KustomizationRender, result: ClusterRender, cluster: str
) -> None:
    """A `${var}` in a Kustomization that substitutes nothing reaches the cluster as literal text.

    ConfigMaps and Secrets are left out: scripts and dashboards there use `${...}` of their own."""
    assert render.index is not None
    for doc in render.docs:
        if "${" not in doc.text or doc.has_kind(("ConfigMap", "Secret")):
            continue
        match = _VARIABLE.search(doc.text)
        if match is None:
            continue
        source = render.index.locate(doc.obj)
        result.findings.append(
            Finding(
                rule="flux/substitution-not-enabled",
                severity=Severity.WARNING,
                message=f"'${{{match.group(1)}...}}' is applied literally: Kustomization {ks.id} has no "
                "postBuild variables (add postBuild.substituteFrom, or write $${...} if the text is meant)",
                cluster=cluster,
                file=source.file,
                line=_needle_line(render.root or repo, source.file, source.line, match.group(0)),
                object=ObjectRef.of(doc.obj),
            )
        )


def _unset_message(variable: str, ks_id: str, strict: tuple[bool, str] | None) -> str:
    """What kustomize-controller does with an unset variable, by the gate its bootstrap sets.

    fluxcd/pkg kustomize v1.27.1 varSubstitution: without StrictPostBuildSubstitutions an unset variable
    evaluates to ""; with it, envsubst fails, the build fails (Ready=False, BuildFailed) and nothing of the
    revision is applied (kustomize-controller v1.8.3)."""
    fix = f"set it in postBuild or give a default ${{{variable}:=value}}"
    fails = f"Kustomization {ks_id} fails to build and applies nothing of this revision"
    if strict is None:
        outcome = (
            f"Flux applies an empty string here, or, when kustomize-controller runs with "
            f"--feature-gates=StrictPostBuildSubstitutions=true, {fails}"
        )
    elif strict[0]:
        outcome = f"kustomize-controller runs with StrictPostBuildSubstitutions ({strict[1]}), so {fails}"
    else:
        outcome = (
            f"kustomize-controller runs without StrictPostBuildSubstitutions ({strict[1]}), so Flux applies an "
            "empty string here"
        )
    return f"variable '{variable}' has no value and no default: {outcome}; {fix}"


def _substitute_all(
    repo: Path, graph: flux.FluxGraph, result: ClusterRender, objects: _ObjectIndex, cluster: str
) -> None:
    """Flux postBuild substitution of every rendered object, dependencies first (their ConfigMaps win)."""
    bootstrap: dict[str, tuple[bool, str] | None] = {}
    for ks in graph.dependency_order():
        render = result.renders.get(ks.key)
        if render is None:
            continue
        if ks.post_build is None:
            _report_unsubstituted(repo, ks, render, result, cluster)
            continue
        variables, findings = _variables(ks, objects, cluster)
        result.findings.extend(findings)
        if not variables.active():
            _report_unsubstituted(repo, ks, render, result, cluster)
            continue
        assert render.index is not None
        for doc in render.docs:
            if "$" not in doc.text or (DISABLED_KEY in doc.text and disabled(doc.obj)):
                continue
            outcome = substitute_text(doc.text, variables, PlainLoader)
            if outcome.error:
                source = render.index.locate(doc.obj)
                at, message = source.line, outcome.error
                if outcome.variable:
                    at = _needle_line(render.root or repo, source.file, source.line, "${" + outcome.variable)
                    if "strict" not in bootstrap:  # read once per cluster, and only when a variable is unset
                        bootstrap["strict"] = strict_substitutions(repo, cluster)
                    message = _unset_message(outcome.variable, ks.id, bootstrap["strict"])
                else:
                    message = (
                        f"{message} (Kustomization {ks.id}; check the values substituted into this object)"
                    )
                rule = "flux/substitute-unset" if outcome.variable else "flux/substitute-invalid"
                result.incomplete.add(ks.key)
                result.findings.append(
                    Finding(
                        rule=rule,
                        severity=Severity.ERROR,
                        message=message,
                        cluster=cluster,
                        file=source.file,
                        line=at,
                        object=ObjectRef.of(doc.obj),
                    )
                )
                continue
            if outcome.obj is not None:
                doc.obj = outcome.obj
                objects.add(outcome.obj, ks.options.target_namespace)


def _decrypts(ks: flux.FluxKustomization) -> bool:
    spec = ks.obj.get("spec") if isinstance(ks.obj, dict) else None
    decryption = spec.get("decryption") if isinstance(spec, dict) else None
    return isinstance(decryption, dict) and decryption.get("provider") == "sops"


def _collect_manifests(result: ClusterRender) -> None:
    assert result.graph is not None
    seen: dict[tuple[str, str, str | None, str], str] = {}
    for ks in result.graph.dependency_order():
        render = result.renders.get(ks.key)
        if render is None:
            continue
        result.findings.extend(render.findings)
        assert render.index is not None
        items: list[Manifest] = []
        for doc in render.docs:
            if not doc.obj and doc.error:
                result.incomplete.add(ks.key)
                result.findings.append(
                    Finding(
                        rule="render/invalid-output",
                        severity=Severity.ERROR,
                        message=f"an object in kustomize's output cannot be read ({doc.error}); look for "
                        "explicit YAML tags (!!int, !!binary) in the sources of this Kustomization",
                        cluster=result.cluster,
                        file=render.index.fallback.file if render.index.fallback else ks.file,
                        line=1,
                    )
                )
                continue
            source = render.index.locate(doc.obj)
            encrypted = sops.is_encrypted_secret(doc.obj)
            if encrypted:
                doc.obj = sops.decrypted_placeholder(doc.obj)
            # the source document goes along so findings about one field can name that field's line
            manifest = Manifest(
                result.cluster, doc.obj, SourceProvenance(source.file, source.line, ks.name, source)
            )
            if encrypted and not _decrypts(ks):
                result.findings.append(
                    Finding.on(
                        manifest,
                        "flux/decryption-missing",
                        Severity.ERROR,
                        f"Secret {manifest.ref.namespace}/{manifest.ref.name} is SOPS-encrypted, but Kustomization "
                        f"{ks.id} has no spec.decryption (provider: sops): Flux would not decrypt it (set "
                        "spec.decryption.provider: sops and its secretRef)",
                    )
                )
            ref = manifest.ref
            key = (flux.api_group(ref.api_version), ref.kind, ref.namespace, ref.name)
            if key in seen and seen[key] != ks.id:
                result.findings.append(
                    Finding.on(
                        manifest,
                        "flux/duplicate-object",
                        Severity.WARNING,
                        f"{ref} is applied by both Kustomization {seen[key]} and {ks.id}; they fight over it",
                    )
                )
            seen.setdefault(key, ks.id)
            items.append(manifest)
        result.by_kustomization[ks.key] = items
        result.manifests.extend(items)


def render_cluster_manifests(
    repo: Path, config: Config, cluster: str
) -> tuple[list[Manifest], list[Finding]]:
    """The objects Flux would apply to `cluster`, with provenance, and the findings of rendering them."""
    rendered = render_cluster(repo, config, cluster)
    return rendered.manifests, dedupe_findings(rendered.findings)


def dedupe_findings(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (rule, place, message), in report order."""
    unique: dict[tuple[object, ...], Finding] = {}
    for f in findings:
        key = (f.rule, f.severity, f.message, f.cluster, f.file, f.line, f.object)
        unique.setdefault(key, f)
    return sorted(unique.values(), key=lambda f: (f.sort_key(), f.cluster or ""))
