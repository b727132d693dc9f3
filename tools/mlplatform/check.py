"""The orchestrator of `check`: render every cluster (cluster_render), then run every validator and rule."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import hygiene, suppress, terraform_prefetch
from .cluster_model import ClusterModel
from .cluster_render import ClusterRender, dedupe_findings, render_cluster
from .config import DEFAULT_KUBERNETES_VERSION, Config
from .consolidate import consolidate
from .context import ClusterContext
from .errors import InputError, ToolError, unknown_clusters
from .model import Finding, Manifest, ObjectRef, PoolFile, Severity
from .progress import progress
from .promtool import Promtool, find_promtool
from .provenance import SourceProvenance, field_line, source_doc
from .render import KustomizeTool, SourceCache, find_kustomize, rel
from .yamlio import plain

# Flux graph semantics that `check` reports and `validate` (YAML and schemas only) leaves out.
GRAPH_RULES = frozenset(
    {
        "flux/crd-not-installed-first",
        "flux/crd-unknown",
        "flux/decryption-missing",
        "flux/dependency-cycle",
        "flux/depends-on-missing",
        "flux/duplicate-object",
        "flux/not-applied",
    }
)


# ---------------------------------------------------------------- the check


@dataclass
class CheckResult:
    findings: list[Finding]
    clusters: list[str]
    object_counts: dict[str, int]
    kustomize: str
    timings: dict[str, float]
    promtool: str | None = None  # None: none found, PrometheusRules were not checked by promtool
    # Findings an exemption covers (suppress.py): not counted, still reported with their reason.
    suppressed: list[Finding] = field(default_factory=list)
    builds: dict[str, int] | None = None  # kustomize builds run, shared within the run, read from the cache

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
            **({"builds": self.builds} if self.builds is not None else {}),
        }


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
                rule="pool/file-missing",
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
                rule="pool/file-invalid",
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
    from . import prometheus_rules

    timings: dict[str, float] = {}
    started = time.perf_counter()
    rendered = render_cluster(repo, config, cluster, tool=tool, cache=cache)
    timings["render"] = time.perf_counter() - started
    if renders is not None:
        renders[cluster] = rendered
    findings = list(rendered.findings)
    # promtool reads only the rendered PrometheusRules and waits on its subprocesses: it starts now, beside
    # the Python steps below (after them, its unit tests were the last 0.8 s of a repository check).
    rules_ctx = ClusterContext(repo=repo, config=config, cluster=cluster, manifests=rendered.manifests,
                               pool_file=None)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"promtool-{cluster}") as beside:
        promtool_step = beside.submit(_step, "promtool", timings, prometheus_rules.check_cluster, rules_ctx, cache,
                                      promtool)
        findings.extend(_python_steps(repo, config, cluster, rendered.manifests, timings, steps_lock))
        findings.extend(promtool_step.result())
    # Exemption annotations on the rendered objects, for every rule's findings (suppress.py).
    suppress.mark_annotated(findings, rendered.manifests)
    for finding in findings:
        # a YAML problem belongs to its file, not to a cluster (hygiene reports it once for the repository)
        if finding.cluster is None and not finding.rule.startswith("yaml/"):
            finding.cluster = cluster
    return findings, len(rendered.manifests), timings


def _python_steps(
    repo: Path,
    config: Config,
    cluster: str,
    manifests: list[Manifest],
    timings: dict[str, float],
    steps_lock: threading.Lock,
) -> list[Finding]:
    """Pools, schemas, the cluster model, the rules and the capacity fit of one rendered cluster."""
    from . import pool_rules, rules
    from .capacity import fit
    from .zones import cluster_zone_ids

    findings: list[Finding] = []
    # Rendering overlaps across clusters (kustomize runs in subprocesses); the Python steps hold the GIL
    # anyway, and running them one cluster at a time keeps their caches free of races.
    with steps_lock:
        pool_file, pool_findings = _load_pools(repo, cluster)
        findings.extend(pool_findings)
        ctx = ClusterContext(
            repo=repo, config=config, cluster=cluster, manifests=manifests, pool_file=pool_file
        )
        schema_findings = _schema_step(timings, config, manifests, pool_file)
        findings.extend(schema_findings)
        if pool_file is not None:
            findings.extend(_step("pool_rules", timings, pool_rules.check_pool_file, pool_file, ctx.catalog,
                                  cluster_zone_ids(repo, cluster)))
        # The cluster model, once: the rules and the capacity fit read the same workloads and placements.
        step = time.perf_counter()
        ctx.model = ClusterModel(ctx.manifests, pool_file, ctx.catalog,
                                 ignored_autoscalers=_invalid_autoscalers(schema_findings))
        timings["model"] = time.perf_counter() - step
        findings.extend(_step("rules", timings, rules.run_rules, ctx))
        findings.extend(_step("capacity", timings, fit.check_fit, ctx))
    return findings


# Objects that set a workload's replica range: one that fails its schema would be read with the
# controller's defaults (KEDA: 100 replicas), and the capacity fit would report that instead of the typo.
AUTOSCALER_KINDS = frozenset({"ScaledObject", "ScaledJob", "HorizontalPodAutoscaler"})


def _invalid_autoscalers(schema_findings: list[Finding]) -> set[tuple[str, ObjectRef]]:
    """(file, ref) of autoscalers with schema errors: the model leaves them out (the schema error is the
    finding; their workloads are modelled with their own replicas until it is fixed)."""
    return {
        (f.file or "", f.object)
        for f in schema_findings
        if f.severity is Severity.ERROR and f.object is not None and f.object.kind in AUTOSCALER_KINDS
    }


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
    # The cross-layer rules read each cluster's Terraform (python-hcl2: ~0.6 s of CPU for our modules); a child
    # process parses it on the other core while kustomize renders (terraform_prefetch.py).
    terraform_prefetch.start(repo, names)
    promtool = find_promtool(repo, config)
    cache = SourceCache()
    timings: dict[str, float] = {}
    findings: list[Finding] = list(config.findings)  # problems in .mlplatform.yaml (config.py)
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
        findings.extend(_step("hygiene", timings, hygiene.check_repository, repo, cache=cache,
                                exclude=config.exclude))
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
    # every cluster checked: an exemption that matched nothing is known to be unused (not so for --cluster)
    active, suppressed = suppress.apply(consolidate(dedupe_findings(findings)), config.rule_settings,
                                        report_unused=clusters is None)
    return CheckResult(
        findings=active,
        suppressed=suppressed,
        clusters=names,
        object_counts=counts,
        kustomize=tool.describe(),
        timings=timings,
        promtool=promtool.describe() if promtool else None,
        builds=cache.builds.counts(),
    )


def _cluster_names(config: Config, clusters: list[str] | None) -> list[str]:
    available = config.clusters()
    if not clusters:
        if not available:
            where = ", ".join(config.cluster_locations) or ("clusters/" if (config.repo / "clusters").is_dir()
                                                            else "the repository")
            raise ToolError(
                f"no Flux cluster found in {where} of {config.repo}: no Flux Kustomization applies the folder "
                "that holds it (what `flux bootstrap` writes); set cluster_locations in .mlplatform.yaml"
            )
        return available
    unknown = [c for c in clusters if c not in available]
    if unknown:
        raise unknown_clusters(unknown, available)
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
    findings: list[Finding] = list(config.findings)  # problems in .mlplatform.yaml (config.py)
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
        findings.extend(_step("hygiene", timings, hygiene.check_repository, repo, cache=cache,
                                exclude=config.exclude))
        for name in names:
            rendered = render_cluster(repo, config, name, tool=tool, cache=cache)
            # validate is about YAML and schemas: keep what stopped rendering, leave graph semantics to check
            findings.extend(f for f in rendered.findings if f.rule not in GRAPH_RULES)
            counts[name] = len(rendered.manifests)
            pool_file, _ = _load_pools(repo, name)
            cluster_findings = _schema_step(timings, config, rendered.manifests, pool_file)
            suppress.mark_annotated(cluster_findings, rendered.manifests)
            findings.extend(cluster_findings)
    timings["total"] = time.perf_counter() - started
    active, suppressed = suppress.apply(consolidate(dedupe_findings(findings)), config.rule_settings)
    return CheckResult(
        findings=active,
        suppressed=suppressed,
        clusters=list(counts),
        object_counts=counts,
        kustomize=kustomize,
        timings=timings,
    )
