"""The orchestrator of `check`: render every cluster as Flux would, then run every validator and rule."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import contain, flux, hygiene
from .config import DEFAULT_KUBERNETES_VERSION, Config
from .consolidate import consolidate
from .context import ClusterContext
from .errors import InputError, ToolError
from .flux_bootstrap import strict_substitutions
from .model import Finding, Manifest, ObjectRef, PoolFile, Severity
from .progress import progress
from .promtool import Promtool, find_promtool
from .provenance import ProvenanceIndex, SourceProvenance, build_index, field_line, source_doc
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

# Flux graph semantics that `check` reports and `validate` (YAML and schemas only) leaves out.
GRAPH_RULES = frozenset(
    {
        "flux/crd-not-installed-first",
        "flux/dependency-cycle",
        "flux/depends-on-missing",
        "flux/duplicate-object",
        "flux/not-applied",
    }
)
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


@dataclass
class ClusterRender:
    cluster: str
    manifests: list[Manifest] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    graph: flux.FluxGraph | None = None
    by_kustomization: dict[tuple[str, str], list[Manifest]] = field(default_factory=dict)
    renders: dict[tuple[str, str], KustomizationRender] = field(default_factory=dict)
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
        for doc in out.docs:
            if doc.obj.get("kind") not in CLUSTER_SCOPED_KINDS and isinstance(doc.obj.get("metadata"), dict):
                doc.obj["metadata"]["namespace"] = options.target_namespace
                doc.text = yaml.safe_dump(doc.obj, sort_keys=False)
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
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
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
    timeout = timeout_of(config)
    result = ClusterRender(cluster=cluster)
    if not (repo / "clusters" / cluster).is_dir():
        raise ToolError(f"cluster '{cluster}' not found: no directory clusters/{cluster}")

    scan = flux.scan_cluster_dir(repo, cluster)
    graph = flux.FluxGraph(cluster)
    result.graph = graph
    for source in scan.sources:
        graph.add_source(source)
    root_path = f"clusters/{cluster}"
    roots = [ks for ks in scan.kustomizations if flux.normalize_path(ks.path) == root_path]
    self_sources = {("GitRepository", "flux-system", "flux-system")}
    self_sources |= {(ks.source_kind, ks.source_namespace, ks.source_name) for ks in roots}
    frontier = [ks for ks in (roots or scan.kustomizations) if graph.add_kustomization(ks)]

    objects = _ObjectIndex()
    rounds = 0
    with ThreadPoolExecutor(max_workers=jobs_of(config)) as pool:
        while frontier and rounds < MAX_DISCOVERY_ROUNDS:
            rounds += 1
            buildable = []
            for ks in frontier:
                directory = ks.directory(repo)
                if not flux.is_self_source(ks, self_sources):
                    if (ks.source_kind, ks.source_namespace, ks.source_name) in graph.sources:
                        result.findings.append(
                            ks.finding(
                                "flux/external-source",
                                Severity.INFO,
                                cluster,
                                ks.line_of("spec", "sourceRef"),
                                f"Kustomization {ks.id} reads {ks.source_kind} {ks.source_name}, "
                                "not this repository: its objects are not rendered",
                            )
                        )
                    continue
                if not flux.leaves_repository(repo, ks.path) and directory.is_dir():
                    buildable.append(ks)
            renders = list(pool.map(lambda k: _render_one(tool, repo, k, cache, cluster, timeout), buildable))
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
                        f"Kustomization {ks.id} is in clusters/{cluster}/ but no Flux Kustomization "
                        "applies it "
                        f"(is it listed in the kustomization.yaml of {root_path}?)",
                    )
                )

    _substitute_all(repo, graph, result, objects, cluster)
    _collect_manifests(result)
    result.findings.extend(flux.graph_findings(graph, repo, self_sources))
    preinstalled = config.extra.get("preinstalled_crd_groups") or []
    result.findings.extend(
        flux.crd_order_findings(
            graph,
            result.by_kustomization,
            [str(g) for g in preinstalled] if isinstance(preinstalled, list) else [],
        )
    )
    result.seconds = time.perf_counter() - started
    return result


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
                line=_needle_line(repo, source.file, source.line, match.group(0)),
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
                    at = _needle_line(repo, source.file, source.line, "${" + outcome.variable)
                    if "strict" not in bootstrap:  # read once per cluster, and only when a variable is unset
                        bootstrap["strict"] = strict_substitutions(repo, cluster)
                    message = _unset_message(outcome.variable, ks.id, bootstrap["strict"])
                else:
                    message = (
                        f"{message} (Kustomization {ks.id}; check the values substituted into this object)"
                    )
                rule = "flux/substitute-unset" if outcome.variable else "flux/substitute-invalid"
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
            # the source document goes along so findings about one field can name that field's line
            manifest = Manifest(
                result.cluster, doc.obj, SourceProvenance(source.file, source.line, ks.name, source)
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
    return rendered.manifests, _dedupe(rendered.findings)


# ---------------------------------------------------------------- the check


@dataclass
class CheckResult:
    findings: list[Finding]
    clusters: list[str]
    object_counts: dict[str, int]
    kustomize: str
    timings: dict[str, float]
    promtool: str | None = None  # None: none found, PrometheusRules were not checked by promtool

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.WARNING)

    def info(self) -> dict[str, Any]:
        from . import __version__

        return {
            "tool": "mlplatform",
            "version": __version__,
            "kustomize": self.kustomize,
            "promtool": self.promtool,
            "clusters": self.clusters,
            "objects": self.object_counts,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def _dedupe(findings: Iterable[Finding]) -> list[Finding]:
    unique: dict[tuple, Finding] = {}
    for f in findings:
        key = (f.rule, f.severity, f.message, f.cluster, f.file, f.line, f.object)
        unique.setdefault(key, f)
    return sorted(unique.values(), key=lambda f: (f.sort_key(), f.cluster or ""))


def _step(
    name: str, timings: dict[str, float], fn: Callable[..., Iterable[Finding]], *args: Any, **kwargs: Any
) -> list[Finding]:
    """Run one check step, adding its time to `timings`."""
    started = time.perf_counter()
    try:
        return list(fn(*args, **kwargs))
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - started


def _load_pools(repo: Path, cluster: str) -> tuple[PoolFile | None, list[Finding]]:
    from .pools import load_pool_file, pool_file_path

    path = pool_file_path(repo, cluster)
    if not path.is_file():
        return None, [
            Finding(
                rule="pools/missing",
                severity=Severity.WARNING,
                cluster=cluster,
                file=rel(repo, path),
                line=None,
                message=f"no pool file for cluster {cluster}: scheduling and capacity checks skipped",
            )
        ]
    try:
        return load_pool_file(path, repo), []
    except InputError as exc:
        return None, [
            Finding(
                rule="pools/invalid",
                severity=Severity.ERROR,
                cluster=cluster,
                file=exc.file or rel(repo, path),
                line=exc.line or 1,
                message=exc.message,
            )
        ]


def kubernetes_version_for(config: Config, pool_file: PoolFile | None) -> str:
    return (
        config.kubernetes_version
        or (pool_file.kubernetes_version if pool_file else None)
        or DEFAULT_KUBERNETES_VERSION
    )


def _schema_step(
    timings: dict[str, float], config: Config, manifests: list[Manifest], pool_file: PoolFile | None
) -> list[Finding]:
    """Schema validation of `manifests`, for the Kubernetes version of the config or the pool file."""
    from . import schema

    return _step(
        "schema",
        timings,
        schema.validate_manifests,
        manifests,
        kubernetes_version=kubernetes_version_for(config, pool_file),
        schema_locations=config.resolved_schema_locations(),
        strict=config.strict,
        locate=field_line,
    )


def _check_cluster(
    repo: Path,
    config: Config,
    cluster: str,
    tool: KustomizeTool,
    cache: SourceCache,
    steps_lock: threading.Lock,
    promtool: Promtool | None = None,
    renders: dict[str, ClusterRender] | None = None,
) -> tuple[list[Finding], int, dict[str, float]]:
    from . import pool_rules, prometheus_rules, rules
    from .capacity import fit

    timings: dict[str, float] = {}
    started = time.perf_counter()
    rendered = render_cluster(repo, config, cluster, tool=tool, cache=cache)
    timings["render"] = time.perf_counter() - started
    if renders is not None:
        renders[cluster] = rendered
    findings = list(rendered.findings)
    # Rendering overlaps across clusters (kustomize runs in subprocesses); the Python steps hold the GIL
    # anyway, and running them one cluster at a time keeps their caches free of races.
    with steps_lock:
        pool_file, pool_findings = _load_pools(repo, cluster)
        findings.extend(pool_findings)
        ctx = ClusterContext(
            repo=repo, config=config, cluster=cluster, manifests=rendered.manifests, pool_file=pool_file
        )
        schema_findings = _schema_step(timings, config, rendered.manifests, pool_file)
        findings.extend(schema_findings)
        if pool_file is not None:
            findings.extend(_step("pool_rules", timings, pool_rules.check_pool_file, pool_file, ctx.catalog))
        findings.extend(_step("rules", timings, rules.run_rules, ctx))
        fit_ctx = _without_invalid_autoscalers(ctx, schema_findings)
        findings.extend(_step("capacity", timings, fit.check_fit, fit_ctx))
    # promtool runs as subprocesses, outside the lock (its scratch directory is per cluster).
    findings.extend(_step("promtool", timings, prometheus_rules.check_cluster, ctx, cache, promtool))
    for finding in findings:
        # a YAML problem belongs to its file, not to a cluster (hygiene reports it once for the repository)
        if finding.cluster is None and not finding.rule.startswith("yaml/"):
            finding.cluster = cluster
    return findings, len(rendered.manifests), timings


# Objects that set a workload's replica range: one that fails its schema would be read with the
# controller's defaults (KEDA: 100 replicas), and the capacity fit would report that instead of the typo.
AUTOSCALER_KINDS = frozenset({"ScaledObject", "ScaledJob", "HorizontalPodAutoscaler"})


def _without_invalid_autoscalers(ctx: ClusterContext, schema_findings: list[Finding]) -> ClusterContext:
    """The context the capacity fit sees: autoscalers with schema errors left out (the schema error is the
    finding; their workloads are planned with their own replicas until it is fixed)."""
    invalid = {
        (f.file, f.object)
        for f in schema_findings
        if f.severity is Severity.ERROR and f.object is not None and f.object.kind in AUTOSCALER_KINDS
    }
    if not invalid:
        return ctx
    kept = [m for m in ctx.manifests if (m.source.file, m.ref) not in invalid]
    return ClusterContext(repo=ctx.repo, config=ctx.config, cluster=ctx.cluster, manifests=kept,
                          pool_file=ctx.pool_file, catalog=ctx.catalog)


def _prefetch_terraform(repo: Path, names: list[str]) -> None:
    from .terraform import load_terraform

    for name in names:
        try:
            load_terraform(repo, name)
        except (InputError, OSError):
            pass  # the rules load it again and report the problem with its file and line


def run_check(
    repo: Path,
    config: Config,
    clusters: list[str] | None = None,
    *,
    renders: dict[str, ClusterRender] | None = None,
) -> CheckResult:
    """Everything `check` does, for the given clusters (default: all under clusters/).

    `renders`, when given, receives each cluster's ClusterRender: `report` and `graph` draw from the same
    rendering the check judged instead of running kustomize twice."""
    from . import gen

    started = time.perf_counter()
    names = _cluster_names(config, clusters)
    tool = find_kustomize(repo, config)
    # The cross-layer rules read each cluster's Terraform (python-hcl2: ~0.6 s for our modules); parse it while
    # kustomize renders, which waits on subprocesses. terraform.py caches parsed files per process.
    threading.Thread(target=_prefetch_terraform, args=(repo, names), daemon=True).start()
    promtool = find_promtool(repo, config)
    cache = SourceCache()
    timings: dict[str, float] = {}
    findings: list[Finding] = []
    counts: dict[str, int] = {}
    steps_lock = threading.Lock()
    # Progress shows only on a terminal and only for runs longer than a couple of seconds (progress.py).
    with (
        progress("check", total=len(names) + 1) as bar,
        ThreadPoolExecutor(max_workers=max(1, min(len(names), os.cpu_count() or 1))) as pool,
    ):
        futures = {
            name: pool.submit(_check_cluster, repo, config, name, tool, cache, steps_lock, promtool, renders)
            for name in names
        }
        step = time.perf_counter()
        findings.extend(_step("hygiene", timings, hygiene.check_repository, repo, cache=cache))
        with steps_lock:
            findings.extend(_step("gen", timings, gen.check_drift, repo))
        timings["repo_steps"] = time.perf_counter() - step
        bar.advance(note="repository files")
        for name, future in futures.items():
            cluster_findings, count, cluster_timings = future.result()
            findings.extend(cluster_findings)
            counts[name] = count
            for key, value in cluster_timings.items():
                timings[f"{name}.{key}"] = value
            bar.advance(note=name)
    timings["total"] = time.perf_counter() - started
    return CheckResult(
        findings=consolidate(_dedupe(findings)),
        clusters=names,
        object_counts=counts,
        kustomize=tool.describe(),
        timings=timings,
        promtool=promtool.describe() if promtool else None,
    )


def _cluster_names(config: Config, clusters: list[str] | None) -> list[str]:
    available = config.clusters()
    if not clusters:
        if not available:
            raise ToolError(f"no clusters found under {config.repo / 'clusters'}")
        return available
    unknown = [c for c in clusters if c not in available]
    if unknown:
        raise ToolError(
            f"unknown cluster(s): {', '.join(unknown)} (available: {', '.join(available) or 'none'})"
        )
    return list(dict.fromkeys(clusters))


# ---------------------------------------------------------------- validate


def _is_build_input(data: dict[str, Any]) -> bool:
    return str(data.get("apiVersion") or "").startswith("kustomize.config.k8s.io/") or (
        "kind" not in data and any(k in data for k in ("resources", "bases", "components", "patches"))
    )


def run_validate(
    repo: Path, config: Config, files: list[Path] | None = None, clusters: list[str] | None = None
) -> CheckResult:
    """YAML and schema validation only: of the rendered clusters, or of the given files as they are."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    cache = SourceCache()
    findings: list[Finding] = []
    counts: dict[str, int] = {}
    kustomize = "not used"
    if files:
        manifests: list[Manifest] = []
        for path in files:
            if not path.exists():
                raise ToolError(f"no such file: {path}")
            findings.extend(
                _step("hygiene", timings, hygiene.check_files, repo, [path], cache=cache, expect_objects=True)
            )
            docs = cache.fast_documents(path)
            if isinstance(docs, InputError):
                continue
            shown = rel(repo, path)
            for doc in docs:
                # kustomize's own files (kustomization.yaml, components) are build inputs, not objects
                if isinstance(doc.data, dict) and not _is_build_input(doc.data):
                    # read fast: already plain dicts, and line numbers come only for objects with findings
                    obj = plain(doc.data) if doc.lines else doc.data
                    source = source_doc(shown, path, doc, cache)
                    manifests.append(Manifest("", obj, SourceProvenance(shown, doc.line, document=source)))
        counts["files"] = len(manifests)
        # files outside any cluster have no pool file: the version comes from the config or the default
        findings.extend(_schema_step(timings, config, manifests, None))
        for f in findings:
            if f.cluster == "":
                f.cluster = None
    else:
        names = _cluster_names(config, clusters)
        tool = find_kustomize(repo, config)
        kustomize = tool.describe()
        findings.extend(_step("hygiene", timings, hygiene.check_repository, repo, cache=cache))
        for name in names:
            rendered = render_cluster(repo, config, name, tool=tool, cache=cache)
            # validate is about YAML and schemas: keep what stopped rendering, leave graph semantics to check
            findings.extend(f for f in rendered.findings if f.rule not in GRAPH_RULES)
            counts[name] = len(rendered.manifests)
            pool_file, _ = _load_pools(repo, name)
            findings.extend(_schema_step(timings, config, rendered.manifests, pool_file))
    timings["total"] = time.perf_counter() - started
    return CheckResult(
        findings=consolidate(_dedupe(findings)),
        clusters=list(counts),
        object_counts=counts,
        kustomize=kustomize,
        timings=timings,
    )
