"""A KEDA Prometheus trigger on a metric that nothing in the cluster exports to Prometheus."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..model import Finding, Manifest, Severity, schema_cause
from ..promql import PromQLError, Selector, selectors
from ._base import RuleContext, TemplateInfo, as_dict, as_list, pointer
from ._selectors import selector_matches

ID = "policy/keda-metric-exported"
TITLE = "KEDA Prometheus trigger on a metric nothing exports"
SEVERITY = Severity.ERROR
FIXABLE = False
EXPORTS_ANNOTATION = "mlplatform.example.com/exports-metrics"
RATIONALE = (
    "KEDA reads a Prometheus trigger's query; a metric no scraped target exports returns no data, KEDA counts "
    "that as 0 and the workload never scales (or stays at zero). Every metric a ScaledObject or ScaledJob "
    "query names (the tokenizer in promql.py: vector selectors and {__name__=...}, not functions, keywords or "
    "label names) must be exported by a workload of the same cluster that a ServiceMonitor or PodMonitor "
    "scrapes. Scrape configs do not list metric names, so exporters declare them with the annotation "
    f"{EXPORTS_ANNOTATION}: \"name,name\" on the workload or its pod template; on a ServiceMonitor or "
    "PodMonitor it declares what every target it scrapes exports (e.g. the Linkerd proxy's request_total); "
    "on a HelmRelease, what the chart's own workloads and scrape configs provide (charts are not rendered). "
    "A histogram declared by its name covers its _bucket, _sum and _count series. Equality matchers on "
    "`namespace` and `service` must fit a scraped target (the labels the Prometheus Operator sets). The "
    "scrape match follows "
    "the Prometheus Operator: namespaceSelector, selector, the endpoint's port name on the Service or "
    "container (Linkerd's injector adds its labels and the linkerd-admin port to pods annotated "
    "linkerd.io/inject: enabled). Only a real cluster shows that the target is up, that the metric carries "
    "the labels the query filters on, and that KEDA reaches Prometheus."
)
REMEDIATION = (
    "Export the metric (a ServiceMonitor or PodMonitor that scrapes the workload) or fix the metric name "
    "in the trigger's query."
)
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
MONITOR_KINDS = ("ServiceMonitor", "PodMonitor")
KEDA_KINDS = ("ScaledObject", "ScaledJob")
# Linkerd's proxy injector (linkerd/linkerd2 pkg/inject): labels it puts on meshed pods, its admin port.
LINKERD_INJECT = "linkerd.io/inject"
LINKERD_PORTS = frozenset({"linkerd-admin", "linkerd-proxy"})


def declared(annotations: Any) -> set[str]:
    value = as_dict(annotations).get(EXPORTS_ANNOTATION)
    if not isinstance(value, str):
        return set()
    return {name.strip() for name in value.replace("\n", ",").split(",") if name.strip()}


@dataclass
class Source:
    """Where Prometheus gets a metric from, with the target labels a query may filter on."""

    describe: str
    namespace: str | None  # None: any (a chart's own scrape config)
    services: set[str] | None  # the `service` label values; None: any (unknown offline), empty: none

    def serves(self, selector: Selector) -> bool:
        namespace, service = selector.matcher("namespace"), selector.matcher("service")
        if namespace is not None and self.namespace is not None and namespace != self.namespace:
            return False
        return service is None or self.services is None or service in self.services

    def labels(self) -> str:
        parts = [f"namespace {self.namespace}"] if self.namespace else []
        if self.services is not None:
            parts.append(f"service {', '.join(sorted(self.services))}" if self.services else "no service label")
        return f" ({'; '.join(parts)})" if parts else ""


def _base(name: str) -> str | None:
    return next((name[: -len(s)] for s in HISTOGRAM_SUFFIXES if name.endswith(s)), None)


@dataclass
class Exports:
    """Metric name -> the scraped targets exporting it; plus the declared metrics no scrape config picks up."""

    scraped: dict[str, list[Source]] = field(default_factory=dict)
    unscraped: dict[str, str] = field(default_factory=dict)
    # declared by a workload whose pod template the rules cannot read (schema/invalid): whether Prometheus
    # scrapes it is unknown until that is fixed
    unreadable: dict[str, Manifest] = field(default_factory=dict)

    def sources(self, name: str) -> list[Source]:
        base = _base(name)
        return self.scraped.get(name, []) + (self.scraped.get(base, []) if base else [])

    def unscraped_source(self, name: str) -> str | None:
        return self.unscraped.get(name) or self.unscraped.get(_base(name) or name)

    def unreadable_source(self, name: str) -> Manifest | None:
        return self.unreadable.get(name) or self.unreadable.get(_base(name) or name)


def _describe(manifest: Manifest) -> str:
    ref = manifest.ref
    return f"{ref.kind} {ref.namespace + '/' if ref.namespace else ''}{ref.name}"


def _meshed(info: TemplateInfo, namespace_annotations: dict[str, dict[str, Any]]) -> bool:
    pod = as_dict(info.tpl.pod_metadata.get("annotations")).get(LINKERD_INJECT)
    if pod is not None:
        return pod in ("enabled", "ingress")
    return as_dict(namespace_annotations.get(info.namespace or "")).get(LINKERD_INJECT) in ("enabled", "ingress")


def _pod_labels(info: TemplateInfo, meshed: bool) -> dict[str, str]:
    labels = {str(k): str(v) for k, v in as_dict(info.tpl.pod_metadata.get("labels")).items()}
    if meshed:
        labels.setdefault("linkerd.io/control-plane-ns", "linkerd")
        labels.setdefault("linkerd.io/workload-ns", info.namespace or "")
        labels.setdefault(f"linkerd.io/proxy-{info.kind.lower()}", info.manifest.ref.name)
    return labels


def _container_ports(info: TemplateInfo, meshed: bool) -> set[str]:
    names = {
        str(port.get("name"))
        for _, _, container in info.all_containers
        for port in as_list(container.get("ports"))
        if isinstance(port, dict) and port.get("name")
    }
    return names | LINKERD_PORTS if meshed else names


def _namespaces(monitor: Manifest) -> tuple[bool, set[str]]:
    """(any namespace?, the namespaces) a monitor's namespaceSelector admits; default: its own."""
    selector = as_dict(as_dict(monitor.obj.get("spec")).get("namespaceSelector"))
    if selector.get("any") is True:
        return True, set()
    names = {str(n) for n in as_list(selector.get("matchNames"))}
    return False, names or {monitor.ref.namespace or ""}


def _admits(monitor: Manifest, namespace: str | None) -> bool:
    any_namespace, names = _namespaces(monitor)
    return any_namespace or (namespace or "") in names


def build_exports(ctx: RuleContext) -> Exports:
    found = ctx.cache.get(ID)
    if isinstance(found, Exports):  # the cache holds one Exports per context under this rule's id
        return found
    exports = Exports()
    namespace_annotations = {m.ref.name: as_dict(m.annotations) for m in ctx.by_kind("Namespace")}
    workloads = []
    for info in ctx.templates:
        meshed = _meshed(info, namespace_annotations)
        own = declared(info.manifest.annotations) | declared(info.tpl.pod_metadata.get("annotations"))
        workloads.append((info, meshed, _pod_labels(info, meshed), own))
        for name in own:
            exports.unscraped.setdefault(name, _describe(info.manifest))
    services: dict[str | None, list[Manifest]] = {}
    for service in ctx.by_kind("Service"):
        services.setdefault(service.ref.namespace, []).append(service)
    for monitor in (m for kind in MONITOR_KINDS for m in ctx.by_kind(kind)):
        spec = as_dict(monitor.obj.get("spec"))
        from_monitor = declared(monitor.annotations)
        for info, meshed, labels, own in workloads:
            if not _admits(monitor, info.namespace) or not _scrapes(monitor, spec, info, meshed, labels, services):
                continue
            source = Source(
                f"{_describe(info.manifest)} via {_describe(monitor)}",
                info.namespace,
                _service_labels(monitor, spec, info, labels, services),
            )
            for name in own | from_monitor:
                exports.scraped.setdefault(name, []).append(source)
    for release in ctx.by_kind("HelmRelease"):
        for name in declared(release.annotations):
            exports.scraped.setdefault(name, []).append(Source(_describe(release), None, None))
    for manifest, _ in ctx.skipped:
        template = as_dict(as_dict(manifest.obj.get("spec")).get("template"))
        for name in declared(manifest.annotations) | declared(as_dict(template.get("metadata")).get("annotations")):
            exports.unreadable.setdefault(name, manifest)
    ctx.cache[ID] = exports
    return exports


def _service_labels(
    monitor: Manifest,
    spec: dict[str, Any],
    info: TemplateInfo,
    labels: dict[str, str],
    services: dict[str | None, list[Manifest]],
) -> set[str] | None:
    """The `service` label the Prometheus Operator gives this target: the Service's name for a ServiceMonitor,
    none for a PodMonitor unless its relabelings write one (then any value)."""
    if monitor.ref.kind == "PodMonitor":
        writes = any(
            as_dict(r).get("targetLabel") == "service"
            for e in as_list(spec.get("podMetricsEndpoints"))
            for r in as_list(as_dict(e).get("relabelings"))
        )
        return None if writes else set()
    candidates = services.get(info.namespace, [])
    return {s.ref.name for s in candidates if _service_selects(monitor, spec, s, info, labels)}


def _service_selects(
    monitor: Manifest, spec: dict[str, Any], service: Manifest, info: TemplateInfo, labels: dict[str, str]
) -> bool:
    if service.ref.namespace != info.namespace or not _admits(monitor, service.ref.namespace):
        return False
    if not selector_matches(spec.get("selector"), {str(k): str(v) for k, v in service.labels.items()}):
        return False
    pod_selector = as_dict(as_dict(service.obj.get("spec")).get("selector"))
    if not pod_selector or any(labels.get(str(k)) != str(v) for k, v in pod_selector.items()):
        return False
    endpoints = [as_dict(e) for e in as_list(spec.get("endpoints"))]
    service_ports = as_list(as_dict(service.obj.get("spec")).get("ports"))
    port_names = {str(p.get("name")) for p in service_ports if isinstance(p, dict) and p.get("name")}
    return any(not e.get("port") or str(e["port"]) in port_names for e in endpoints)


def _scrapes(
    monitor: Manifest,
    spec: dict[str, Any],
    info: TemplateInfo,
    meshed: bool,
    labels: dict[str, str],
    services: dict[str | None, list[Manifest]],
) -> bool:
    if monitor.ref.kind == "PodMonitor":
        if not selector_matches(spec.get("selector"), labels):
            return False
        ports = _container_ports(info, meshed)
        endpoints = [as_dict(e) for e in as_list(spec.get("podMetricsEndpoints"))]
        return any(not e.get("port") or str(e["port"]) in ports for e in endpoints)
    return any(_service_selects(monitor, spec, s, info, labels) for s in services.get(info.namespace, []))


def check(ctx: RuleContext) -> Iterator[Finding]:
    triggers = [
        (manifest, index, as_dict(trigger))
        for kind in KEDA_KINDS
        for manifest in ctx.by_kind(kind)
        for index, trigger in enumerate(as_list(as_dict(manifest.obj.get("spec")).get("triggers")))
        if as_dict(trigger).get("type") == "prometheus"
    ]
    if not triggers:
        return
    exports = build_exports(ctx)
    for manifest, index, trigger in triggers:
        query = as_dict(trigger.get("metadata")).get("query")
        if not isinstance(query, str):
            continue  # schema validation reports a missing query
        try:
            wanted = selectors(query)
        except PromQLError as exc:
            unread = f"trigger {index}: the query cannot be read ({exc}), so its metrics cannot be checked"
            messages: list[tuple[str, Manifest | None]] = [(unread, None)]
        else:
            messages = []
            for selector in wanted:
                sources = exports.sources(selector.name)
                if not any(source.serves(selector) for source in sources):
                    messages.append(_missing(ctx, exports, index, selector, sources))
        query_at = pointer("spec", "triggers", index, "metadata", "query")
        for message, exporter in messages:
            found = ctx.emit(ID, SEVERITY, manifest, message, at=query_at)
            if found is not None:
                # its exporter fails its schema: once fixed it may export the metric; schema/invalid says why
                found.follows = schema_cause(exporter) if exporter is not None else None
                yield found


def _missing(
    ctx: RuleContext, exports: Exports, index: int, selector: Selector, sources: list[Source]
) -> tuple[str, Manifest | None]:
    """The message, and the workload that declares the metric but whose pod template cannot be read."""
    message = _missing_message(ctx, exports, index, selector, sources)
    exporter = exports.unreadable_source(selector.name)
    if exporter is None:
        return message, None
    return (f"{message}; {_describe(exporter)} declares it, but its pod template cannot be read (schema/invalid "
            "says which field), so whether Prometheus scrapes it is unknown"), exporter


def _missing_message(
    ctx: RuleContext, exports: Exports, index: int, selector: Selector, sources: list[Source]
) -> str:
    name = selector.name
    if sources:
        wanted = ", ".join(f'{k}="{v}"' for k, v in selector.matchers if k in ("namespace", "service"))
        seen = "; ".join(f"{s.describe}{s.labels()}" for s in sources[:3])
        return (
            f"trigger {index} queries {name} with {wanted}, but Prometheus scrapes it only from {seen}: "
            "no scraped target of that namespace and service exports it"
        )
    source = exports.unscraped_source(name)
    if source is not None:
        return (
            f"trigger {index} queries {name}: {source} declares it, but no ServiceMonitor or PodMonitor of "
            f"this cluster scrapes that workload (selector, namespace and port name must match)"
        )
    return (
        f"trigger {index} queries {name}, which no workload of this cluster exports to Prometheus: "
        f"KEDA would read no data. Declare it with the annotation {EXPORTS_ANNOTATION} on the workload that "
        "exports it, scraped by a ServiceMonitor or PodMonitor (mlplatform rules shows the details)"
    )
