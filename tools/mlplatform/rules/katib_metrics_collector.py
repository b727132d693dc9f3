"""A Katib Experiment whose metrics collector cannot work with its trial template, namespace or network policies."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from typing import Any

from ..model import Finding, Manifest, Severity
from ._base import RuleContext, TemplateInfo, as_dict, as_list, pointer
from ._netpol import Endpoint, allows, namespace_labels

ID = "policy/katib-metrics-collector"
TITLE = "Katib metrics collector does not fit the trial template"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    "A Katib trial whose metrics never reach the DB manager ends MetricsUnavailable or Failed, and the "
    "experiment learns nothing. What each collector needs, read at katib v0.18.0: every kind needs the "
    "namespace label katib.kubeflow.org/metrics-collector-injection=enabled (the pod webhook's "
    "namespaceSelector, manifests/v1beta1/components/webhook/webhooks.yaml; it adds KATIB_TRIAL_NAME and the "
    "sidecar) and network policies that let the trial pods reach katib-db-manager.kubeflow:6789. Push "
    "(sdk/python/v1beta1/kubeflow/katib/api/report_metrics.py) also reads "
    "/var/run/secrets/kubernetes.io/serviceaccount/namespace, absent when the pod mounts no token: give it a "
    "downward-API file there (no token or RBAC is needed, the SDK calls no Kubernetes API). StdOut, File and "
    "TensorFlowEvent (pkg/webhook/v1beta1/pod/utils.go) rewrite the primary container's command into one "
    "`sh -c` line: a shell is kept only when spelled `sh` or `bash`, arguments are joined with spaces, and a "
    "completion marker is appended that an `exec` in the script would skip; File needs the trainer to be "
    "told the metrics path. Only a real cluster shows that the trainer prints or pushes the metric names, "
    "that the injected sidecar passes the namespace's Pod Security level (katib-config "
    "injectSecurityContext) and that the CNI enforces the policies as written."
)
REMEDIATION = (
    "Use a metrics collector kind the trial template supports (StdOut for shell commands, File with the "
    "metrics path passed to the trainer)."
)

INJECTION_LABEL = ("katib.kubeflow.org/metrics-collector-injection", "enabled")
# The DB manager every collector reports to (sdk constants DEFAULT_DB_MANAGER_ADDRESS and
# manifests/v1beta1/components/db-manager at v0.18.0): its namespace, pod labels and gRPC port.
DB_MANAGER_NAMESPACE = "kubeflow"
DB_MANAGER_LABELS = {"katib.kubeflow.org/component": "db-manager"}
DB_MANAGER_PORT, DB_MANAGER_PORT_NAME = 6789, "api"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SIDECAR_KINDS = {"StdOut", "File", "TensorFlowEvent"}
REPORTING_KINDS = SIDECAR_KINDS | {"Push", "PrometheusMetric"}
SHELLS = {"sh", "bash", "dash", "ash", "zsh"}
# `exec` as a command word of the script: it replaces the shell, so nothing appended after it runs
_EXEC = re.compile(r"(^|[;&|(\n])\s*exec\s")


def _automounts(ctx: RuleContext, spec: dict[str, Any], namespace: str) -> bool:
    """Whether the kubelet mounts the service-account volume: the pod's field, else its ServiceAccount's."""
    own = spec.get("automountServiceAccountToken")
    if isinstance(own, bool):
        return own
    name = spec.get("serviceAccountName") or "default"
    for sa in ctx.by_kind("ServiceAccount"):
        if sa.ref.name == name and sa.ref.namespace == namespace:
            value = sa.obj.get("automountServiceAccountToken")
            return value if isinstance(value, bool) else True
    return True


def _gives_namespace(volume: dict[str, Any]) -> bool:
    """A downwardAPI (or projected downwardAPI) volume with the file `namespace` from metadata.namespace."""
    sources = [as_dict(volume.get("downwardAPI"))]
    projected = as_list(as_dict(volume.get("projected")).get("sources"))
    sources += [as_dict(as_dict(s).get("downwardAPI")) for s in projected]
    return any(
        item.get("path") == "namespace" and as_dict(item.get("fieldRef")).get("fieldPath") == "metadata.namespace"
        for source in sources
        for item in as_list(source.get("items"))
        if isinstance(item, dict)
    )


def _reads_namespace_file(spec: dict[str, Any], container: dict[str, Any]) -> bool:
    volumes = {v.get("name"): v for v in as_list(spec.get("volumes")) if isinstance(v, dict)}
    for mount in as_list(container.get("volumeMounts")):
        if not isinstance(mount, dict):
            continue
        path = posixpath.normpath(str(mount.get("mountPath") or ""))
        sub = mount.get("subPath")
        if (path == SA_DIR and not sub) or (path == f"{SA_DIR}/namespace" and sub == "namespace"):
            if _gives_namespace(as_dict(volumes.get(mount.get("name")))):
                return True
    return False


def _command_problems(container: dict[str, Any], kind: str, experiment: dict[str, Any]) -> list[str]:
    """Why Katib's rewrite of the primary container's command (wrapWorkerContainer) would break it."""
    line = [str(x) for x in as_list(container.get("command")) + as_list(container.get("args"))]
    if not as_list(container.get("command")):
        return []  # Katib reads the image's entrypoint from the registry; nothing to check offline
    problems = []
    first = line[0]
    if len(line) > 1 and line[1] == "-c" and posixpath.basename(first) in SHELLS:
        if first not in ("sh", "bash"):
            problems.append(
                f"its command starts with {first} -c, and Katib keeps a shell only when it is spelled sh or bash: "
                f"it would run `sh -c '{first} -c <script ...>'` with the script split at its spaces; "
                "write command: [sh, -c]"
            )
        elif _EXEC.search(" ".join(line[2:])):
            problems.append(
                "its script starts the trainer with exec, so the completion marker Katib appends "
                "(`&& echo completed > <dir>/$$.pid`) never runs and the collector reports the trial failed; "
                "drop the exec"
            )
    else:
        spaced = [arg for arg in line if re.search(r"\s|['\"]", arg)]
        if spaced:
            problems.append(
                f"Katib joins command and args with spaces into one `sh -c` line, so {spaced[0]!r} would be "
                "split or unquoted; use command [sh, -c] with one script"
            )
    if kind == "File":
        path = as_dict(as_dict(as_dict(experiment.get("metricsCollectorSpec")).get("source")).get("fileSystemPath"))
        wanted = str(path.get("path") or "")
        env = " ".join(str(as_dict(e).get("value") or "") for e in as_list(container.get("env")))
        if wanted and wanted not in " ".join(line) + " " + env:
            problems.append(
                f"the File collector reads {wanted}, but nothing in the command, args or env tells the trainer "
                "to write there"
            )
    return problems


def _templates_of(ctx: RuleContext, manifest: Manifest) -> list[TemplateInfo]:
    return [info for info in ctx.templates if info.manifest is manifest]


def _namespace(ctx: RuleContext, name: str) -> Manifest | None:
    return next((ns for ns in ctx.by_kind("Namespace") if ns.ref.name == name), None)


def check(ctx: RuleContext) -> Iterator[Finding]:
    namespaces = ctx.by_kind("Namespace")
    policies = ctx.by_kind("NetworkPolicy")
    for manifest in ctx.by_kind("Experiment"):
        if not str(manifest.obj.get("apiVersion") or "").startswith("kubeflow.org/"):
            continue
        spec = as_dict(manifest.obj.get("spec"))
        kind = str(as_dict(as_dict(spec.get("metricsCollectorSpec")).get("collector")).get("kind") or "StdOut")
        primary = as_dict(spec.get("trialTemplate")).get("primaryContainerName")
        namespace = manifest.ref.namespace or "default"
        name = f"Experiment {manifest.ref.name} ({kind} collector)"
        templates = _templates_of(ctx, manifest)
        if kind not in REPORTING_KINDS or not templates:
            continue  # a Custom collector, or a trial template given by ConfigMap: nothing to read here
        found: list[tuple[TemplateInfo, int, dict[str, Any]]] = [
            (info, index, c) for info in templates for field, index, c in info.all_containers
            if field == "containers" and c.get("name") == primary
        ]
        if not found:
            message = f"{name}: primaryContainerName {primary!r} names no container of the trial template"
            if finding := ctx.emit(ID, SEVERITY, manifest, message, at="/spec/trialTemplate/primaryContainerName"):
                yield finding
            continue

        ns_manifest = _namespace(ctx, namespace)
        if ns_manifest is not None and ns_manifest.labels.get(INJECTION_LABEL[0]) != INJECTION_LABEL[1]:
            message = (
                f"Namespace {namespace} runs {name} but lacks the label {INJECTION_LABEL[0]}: {INJECTION_LABEL[1]}; "
                "Katib's pod webhook skips its trial pods, so "
                + ("KATIB_TRIAL_NAME is never set and report_metrics fails" if kind == "Push" else
                   "no metrics collector is injected")
            )
            if finding := ctx.emit(ID, SEVERITY, ns_manifest, message, at="/metadata/labels"):
                yield finding

        # Each problem with the field its finding names: the trial container, or the trial pods' labels
        # (what the NetworkPolicies select).
        problems: list[tuple[str, str]] = []
        for info, index, container in found:
            at = info.tpl.pointer + pointer("containers", index)
            where = f"trial container {primary}" + (f" (replica {info.tpl.role})" if info.tpl.role else "")
            if kind == "Push":
                if not _automounts(ctx, info.spec, namespace) and not _reads_namespace_file(info.spec, container):
                    problems.append((
                        f"{where}: kubeflow.katib.report_metrics reads {SA_DIR}/namespace, which the pod does not "
                        f"have (no service-account token is mounted and no volume gives the file), so every report "
                        f"fails; mount a downwardAPI volume with item namespace (fieldRef metadata.namespace) at "
                        f"{SA_DIR}: it needs no token and no RBAC", at,
                    ))
            elif kind in SIDECAR_KINDS:
                problems += [(f"{where}: {p}", at) for p in _command_problems(container, kind, spec)]

        # The reports go from the trial pod (Push: the trainer; else the sidecar in the same pod) to the DB manager.
        trial = Endpoint(namespace, found[0][0].tpl.labels, namespace_labels(namespaces, namespace))
        db = Endpoint(DB_MANAGER_NAMESPACE, DB_MANAGER_LABELS, namespace_labels(namespaces, DB_MANAGER_NAMESPACE))
        for subject, direction, other in ((trial, "Egress", db), (db, "Ingress", trial)):
            ok, isolating = allows(policies, subject, direction, other, DB_MANAGER_PORT, DB_MANAGER_PORT_NAME)
            if not ok:
                names = ", ".join(f"{p.ref.name} ({p.source.file})" for p in isolating)
                problems.append((
                    f"NetworkPolicies of namespace {subject.namespace} ({names}) isolate "
                    f"{'the trial pods' if subject is trial else 'katib-db-manager'} for {direction.lower()} and "
                    f"none admits the reports to katib-db-manager.{DB_MANAGER_NAMESPACE}:{DB_MANAGER_PORT}",
                    found[0][0].tpl.metadata_pointer + "/labels",
                ))
        for problem, at in dict.fromkeys(problems):
            if finding := ctx.emit(ID, SEVERITY, manifest, f"{name}: {problem}", at=at):
                yield finding
