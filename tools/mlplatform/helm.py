"""Helm rendering: `helm template` of each HelmRelease a cluster renders, as helm-controller would install it.

What follows fluxcd/helm-controller v1.5.3 (Flux v2.8.5, the version this repository installs; its go.mod builds
on helm.sh/helm/v4 v4.1.3, and the set-up pins helm v4.1.4, scripts/ensure-helm.sh):
- values: each `valuesFrom` in order, merged deeply (later wins), then `spec.values` merged last; a reference
  with `targetPath` sets that one path (Helm's --set syntax; a quoted value stays a string); a reference that
  is missing and not `optional` fails the release (internal/controller/helmrelease_controller.go calls
  fluxcd/pkg chartutil ChartValuesFromReferences; valuesKey defaults to `values.yaml`).
- release name: `spec.releaseName`, else `[targetNamespace-]name`, shortened past 53 characters with a
  sha256 suffix (api/v2 GetReleaseName, internal/release/name.go ShortenName); namespace: targetNamespace or
  the HelmRelease's own.
- CRDs: `install.crds` Skip leaves the chart's crds/ folder out; Create (the default) and CreateReplace install
  it (api/v2 helmrelease_types.go CRDsPolicy).
- post-renderers: each `postRenderers[].kustomize` (patches, images) in order, then commonMetadata, then the
  origin labels helm.toolkit.fluxcd.io/name and /namespace (internal/postrender/build.go).

Charts come from this repository (a GitRepository that is the cluster's own source: `chart` is a path), or a
chart cache that `mlplatform charts pull` fills (HelmRepository, OCI HelmRepository, OCIRepository chartRef).
Nothing here uses the network: helm runs with a dead proxy and empty Helm home directories.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import contain, flux
from .errors import ToolError
from .model import ObjectRef, Severity
from .provenance import SourceProvenance
from .yamlio import mapping

HELM_GROUP = "helm.toolkit.fluxcd.io"
ENV_VAR = "MLPLATFORM_HELM"
CACHE_ENV = "MLPLATFORM_CHART_CACHE"
# Where `make setup` (scripts/ensure-helm.sh) puts helm: the tool's own checkout, never the repository.
SETUP_BIN = Path(__file__).resolve().parents[2] / ".tools" / "bin"
TIMEOUT_SECONDS = 120
DEFAULT_VALUES_KEY = "values.yaml"
PLACEHOLDER = "mlplatform-placeholder"  # what an encrypted or external Secret's value renders as
RELEASE_NAME_MAX = 53  # Helm's limit on release names (helm-controller internal/release/name.go)

# Finding ids. Every one of them on a HelmRelease means: its objects are not rendered (the capacity plan lists
# them, capacity/runner.py).
CHART_UNAVAILABLE = "helm/chart-unavailable"
HELM_MISSING = "helm/helm-missing"
VALUES_FROM_MISSING = "helm/values-from-missing"
VALUES_INVALID = "helm/values-invalid"
TEMPLATE_FAILED = "helm/template-failed"
POST_RENDER_FAILED = "helm/post-render-failed"
OUTSIDE = "render/outside-repository"  # the id kustomize rendering uses for a symlink out of the repository
NOT_RENDERED_RULES = frozenset(
    {CHART_UNAVAILABLE, HELM_MISSING, VALUES_FROM_MISSING, VALUES_INVALID, TEMPLATE_FAILED, POST_RENDER_FAILED,
     OUTSIDE}
)


# ---------------------------------------------------------------- the binary


@dataclass(frozen=True)
class Helm:
    path: str
    version: str

    def describe(self) -> str:
        return f"{self.path} ({self.version})"


def offline_env(home: Path) -> dict[str, str]:
    """helm with nothing of the user's: empty Helm home directories (no repositories, no plugins, no
    registry logins) and a dead proxy, so a chart dependency or a `lookup` cannot reach a network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
    dead = "http://127.0.0.1:9"
    env.update(
        {
            "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "https_proxy": dead,
            "NO_PROXY": "", "no_proxy": "",
            "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"), "HELM_PLUGINS": str(home / "plugins"),
        }
    )
    return env


@functools.lru_cache(maxsize=8)
def _probe(path: str) -> Helm:
    with tempfile.TemporaryDirectory(prefix="mlplatform-helm-") as home:
        try:
            proc = subprocess.run([path, "version", "--short"], capture_output=True, text=True, timeout=30,
                                  env=offline_env(Path(home)))
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ToolError(f"helm {path} does not run: {exc}") from exc
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or not out.startswith("v"):
        raise ToolError(f"{path} is not a working helm: {out.splitlines()[:1] or proc.returncode}")
    return Helm(path=path, version=f"helm {out.splitlines()[0]}")


def find_helm() -> Helm | None:
    """The first of: $MLPLATFORM_HELM, the set-up's .tools/bin, helm on PATH; else None (releases are then
    infos, not errors). Never a path from the repository (docs/security.md)."""
    if os.environ.get(ENV_VAR):
        path = os.environ[ENV_VAR]
        resolved = shutil.which(path) or path
        if not Path(resolved).is_file():
            raise ToolError(f"helm not found: {path} (from {ENV_VAR})")
        return _probe(str(Path(resolved).resolve()))
    # the pinned one before PATH: the version decides what renders
    local = SETUP_BIN / "helm"
    if local.is_file():
        return _probe(str(local))
    found = shutil.which("helm")
    return _probe(found) if found else None


def chart_cache_dir() -> Path:
    """$MLPLATFORM_CHART_CACHE, else the user's cache (never inside the repository under check: chart
    templates there would be read by the repository-wide YAML check)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlplatform" / "charts"


# ---------------------------------------------------------------- one HelmRelease


@dataclass(frozen=True)
class HelmProvenance(SourceProvenance):
    """A rendered chart object: the HelmRelease a person edits (file, line), the release and the chart."""

    release: str = ""  # namespace/name of the HelmRelease
    chart: str = ""  # chart name, version and where it came from
    template: str = ""  # the chart file that produced the object ("# Source:" of helm template)


@dataclass
class ChartRequest:
    """Where a release's chart comes from and where it is (or would be) on this machine."""

    chart: str  # chart name (or the path in a GitRepository)
    version: str
    source: str  # "HelmRepository ns/name" ...
    url: str = ""  # repository URL for charts pull; "" for charts in this repository
    directory: Path | None = None  # the chart folder; None when it cannot be had
    root: Path | None = None  # what chart.spec.valuesFiles are relative to: the source's root, or the chart
    reason: str = ""  # why not, when directory is None
    pull_ref: str = ""  # what `helm pull` takes (chart name with --repo, or an oci:// reference)
    pull_repo: str = ""  # --repo URL for classic Helm repositories

    def describe(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"{self.chart}{version} from {self.source}"


def cache_path(cache: Path, url: str, chart: str, version: str) -> Path:
    """<cache>/<url without scheme>/<chart>/<version>: the key is what the content depends on, not the
    HelmRepository's name (two clusters may name one repository differently)."""

    def safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "_"

    return cache / safe(re.sub(r"^[a-z]+://", "", url)) / safe(chart) / safe(version or "latest")


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def is_helm_release(obj: dict[str, Any]) -> bool:
    return obj.get("kind") == "HelmRelease" and flux.api_group(obj.get("apiVersion")) == HELM_GROUP


def release_name(obj: dict[str, Any]) -> str:
    spec = _spec(obj)
    name = str(_meta(obj).get("name") or "")
    if spec.get("releaseName"):
        name = str(spec["releaseName"])
    elif spec.get("targetNamespace"):
        name = f"{spec['targetNamespace']}-{name}"
    if len(name) <= RELEASE_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return name[: RELEASE_NAME_MAX - 13] + "-" + digest


def release_namespace(obj: dict[str, Any]) -> str:
    return str(_spec(obj).get("targetNamespace") or _meta(obj).get("namespace") or "default")


Lookup = Callable[[str, str, str], dict[str, Any] | None]


def resolve_chart(
    repo: Path, obj: dict[str, Any], lookup: Lookup, self_sources: set[tuple[str, str, str]], cache: Path
) -> ChartRequest:
    """The chart of a HelmRelease: a folder of this repository, or the cache's copy of a remote chart."""
    spec, namespace = _spec(obj), str(_meta(obj).get("namespace") or "default")
    chart_ref = spec.get("chartRef")
    if isinstance(chart_ref, dict):
        kind, name = str(chart_ref.get("kind") or ""), str(chart_ref.get("name") or "")
        ref_ns = str(chart_ref.get("namespace") or namespace)
        source = f"{kind} {ref_ns}/{name}"
        if kind != "OCIRepository":
            return ChartRequest(name, "", source, reason=f"a chartRef to a {kind or 'missing kind'} is not rendered")
        oci = lookup("OCIRepository", ref_ns, name)
        if oci is None:
            return ChartRequest(name, "", source, reason=f"{source} is not among the cluster's objects")
        url = str(_spec(oci).get("url") or "")
        ref = mapping(_spec(oci).get("ref"))
        version = str(ref.get("tag") or ref.get("semver") or ref.get("digest") or "latest")
        chart_name = url.rstrip("/").rsplit("/", 1)[-1]
        request = ChartRequest(chart_name, version, source, url=url, pull_ref=url)
        return _from_cache(request, cache)
    chart_spec = spec.get("chart", {}).get("spec") if isinstance(spec.get("chart"), dict) else None
    if not isinstance(chart_spec, dict):
        return ChartRequest("?", "", "?", reason="the HelmRelease names no chart (spec.chart.spec or spec.chartRef)")
    chart = str(chart_spec.get("chart") or "")
    version = str(chart_spec.get("version") or "*")
    ref = mapping(chart_spec.get("sourceRef"))
    kind, name = str(ref.get("kind") or ""), str(ref.get("name") or "")
    ref_ns = str(ref.get("namespace") or namespace)
    source = f"{kind} {ref_ns}/{name}"
    if kind in ("GitRepository", "Bucket"):
        if (kind, ref_ns, name) not in self_sources:
            return ChartRequest(chart, "", source, reason=f"{source} is not this repository")
        if flux.leaves_repository(repo, chart):
            return ChartRequest(chart, "", source, reason=f"chart path {chart} leaves the repository")
        directory = repo / flux.normalize_path(chart)
        if not (directory / "Chart.yaml").is_file():
            return ChartRequest(chart, "", source, reason=f"{flux.normalize_path(chart)}/Chart.yaml does not exist")
        return ChartRequest(chart, "", f"{source} (this repository)", directory=directory, root=repo)
    if kind != "HelmRepository":
        return ChartRequest(chart, version, source, reason=f"charts from a {kind or 'missing kind'} are not rendered")
    helm_repo = lookup("HelmRepository", ref_ns, name)
    if helm_repo is None:
        return ChartRequest(chart, version, source, reason=f"{source} is not among the cluster's objects")
    url = str(_spec(helm_repo).get("url") or "")
    if _spec(helm_repo).get("type") == "oci" or url.startswith("oci://"):
        request = ChartRequest(chart, version, source, url=url, pull_ref=f"{url.rstrip('/')}/{chart}")
    else:
        request = ChartRequest(chart, version, source, url=url, pull_ref=chart, pull_repo=url)
    return _from_cache(request, cache)


def _from_cache(request: ChartRequest, cache: Path) -> ChartRequest:
    directory = cache_path(cache, request.url, request.chart, request.version)
    if (directory / "Chart.yaml").is_file():
        request.directory = request.root = directory
    else:
        request.reason = "not in the chart cache (run `mlplatform charts pull` where the network allows)"
    return request


# ---------------------------------------------------------------- values (helm-controller's composition)


def merge_maps(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """fluxcd/pkg runtime/transform MergeMaps: maps merge key by key, anything else in `override` wins."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_maps(out[key], value)
        else:
            out[key] = value
    return out


_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")


def _typed(value: str) -> Any:
    """Helm strvals' typing of a --set value: true/false, null, integers; anything else a string."""
    if value in ("true", "false"):
        return value == "true"
    if value == "null":
        return None
    if _INT.match(value):
        return int(value)
    return value


def set_path(values: dict[str, Any], path: str, raw: str) -> None:
    """helm-controller ReplacePathValue: `a.b[0].c` (`\\.` escapes a dot) set to the typed value, or to the
    string when it is quoted. Raises ValueError for a path it cannot read."""
    quoted = len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\""
    value: Any = raw.strip("'\"") if quoted else _typed(raw)
    steps: list[str | int] = []
    for part in re.split(r"(?<!\\)\.", path):
        match = re.fullmatch(r"((?:[^\[\]\\]|\\.)+)((?:\[\d+\])*)", part)
        if match is None:
            raise ValueError(f"targetPath '{path}' cannot be read at '{part}'")
        steps.append(match.group(1).replace("\\.", "."))
        steps.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    node: Any = values
    for index, step in enumerate(steps):
        last = index == len(steps) - 1
        following: Any = value if last else ([] if isinstance(steps[index + 1], int) else {})
        if isinstance(step, int):
            if not isinstance(node, list):
                raise ValueError(f"targetPath '{path}': [{step}] is not a list")
            while len(node) <= step:
                node.append(None)
            if last or not isinstance(node[step], dict | list):
                node[step] = following
        else:
            if not isinstance(node, dict):
                raise ValueError(f"targetPath '{path}': '{step}' is not a map")
            if last or not isinstance(node.get(step), dict | list):
                node[step] = following
        node = node[step]


@dataclass
class ValuesProblem:
    rule: str
    severity: Severity
    message: str
    index: int  # the valuesFrom entry


def _secret_value(obj: dict[str, Any], key: str) -> tuple[bool, str | None]:
    """(found, text) of a Secret's key: stringData as written, data base64-decoded; text None when it is
    encrypted (SOPS) or not readable, so only a placeholder can stand for it."""
    if "sops" in obj:
        data = mapping(obj.get("stringData"))
        data = {**data, **mapping(obj.get("data"))}
        return key in data, None
    string_data = mapping(obj.get("stringData"))
    if key in string_data:
        return True, str(string_data[key])
    data = mapping(obj.get("data"))
    if key not in data:
        return False, None
    try:
        return True, base64.b64decode(str(data[key]), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return True, None


def compose_values(obj: dict[str, Any], lookup: Lookup) -> tuple[dict[str, Any], list[ValuesProblem]]:
    """The values helm-controller passes to Helm, and what stops it (a missing non-optional reference)."""
    spec, namespace = _spec(obj), str(_meta(obj).get("namespace") or "default")
    name = f"{namespace}/{_meta(obj).get('name')}"
    result: dict[str, Any] = {}
    problems: list[ValuesProblem] = []
    refs = raw if isinstance(raw := spec.get("valuesFrom"), list) else []
    for index, ref in enumerate(refs):
        if not isinstance(ref, dict):
            continue
        kind, ref_name = str(ref.get("kind") or ""), str(ref.get("name") or "")
        key = str(ref.get("valuesKey") or DEFAULT_VALUES_KEY)
        optional = ref.get("optional") is True
        where = f"valuesFrom[{index}] {kind} {namespace}/{ref_name}"
        if kind not in ("ConfigMap", "Secret"):
            problems.append(ValuesProblem(VALUES_INVALID, Severity.ERROR,
                                          f"HelmRelease {name}: {where}: kind must be ConfigMap or Secret", index))
            continue
        source = lookup(kind, namespace, ref_name)
        text: str | None
        if source is None:
            if not optional:
                problems.append(ValuesProblem(
                    VALUES_FROM_MISSING, Severity.ERROR,
                    f"HelmRelease {name}: {where} is not rendered for this cluster and is not optional: "
                    "helm-controller stops with ValuesError and installs nothing (render it, or set "
                    "optional: true)", index))
            continue
        if kind == "ConfigMap":
            data = mapping(source.get("data"))
            found, text = key in data, (str(data[key]) if key in data else None)
        elif source.get("kind") == "ExternalSecret":
            found, text = True, None  # made on the cluster: its keys are unknown here
        else:
            found, text = _secret_value(source, key)
        if not found:
            if not optional:
                problems.append(ValuesProblem(
                    VALUES_FROM_MISSING, Severity.ERROR,
                    f"HelmRelease {name}: {where} has no key '{key}' and is not optional: helm-controller "
                    "stops with ValuesError and installs nothing", index))
            continue
        target = ref.get("targetPath")
        if target:
            try:
                set_path(result, str(target), PLACEHOLDER if text is None else text)
            except ValueError as exc:
                problems.append(ValuesProblem(VALUES_INVALID, Severity.ERROR, f"HelmRelease {name}: {where}: {exc}",
                                              index))
            continue
        if text is None:
            continue  # an encrypted or external Secret's values file: nothing to merge offline
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            problems.append(ValuesProblem(VALUES_INVALID, Severity.ERROR,
                                          f"HelmRelease {name}: {where} key '{key}' is not YAML: {exc}", index))
            continue
        if loaded is None:
            continue
        if not isinstance(loaded, dict):
            problems.append(ValuesProblem(VALUES_INVALID, Severity.ERROR,
                                          f"HelmRelease {name}: {where} key '{key}' is not a map of values", index))
            continue
        result = merge_maps(result, loaded)
    inline = mapping(spec.get("values"))
    return merge_maps(result, inline), problems


def chart_values(obj: dict[str, Any], chart: ChartRequest) -> tuple[dict[str, Any] | None, str | None]:
    """`chart.spec.valuesFiles`: they replace the chart's values.yaml, merged in order (api/v2 HelmChartTemplateSpec
    ValuesFiles, relative to the source). (None, None) without them; (None, message) when one cannot be read and
    `ignoreMissingValuesFiles` does not say to skip it (source-controller then builds no chart)."""
    spec = mapping(mapping(_spec(obj).get("chart")).get("spec"))
    files = spec.get("valuesFiles")
    if not isinstance(files, list) or not files or chart.root is None:
        return None, None
    ignore = spec.get("ignoreMissingValuesFiles") is True
    merged: dict[str, Any] = {}
    for name in files:
        path = chart.root / flux.normalize_path(str(name))
        if flux.leaves_repository(chart.root, str(name)) or contain.resolve_inside(chart.root, path) is None:
            return None, f"valuesFiles entry {name} leaves the chart's source"
        if not path.is_file():
            if ignore:
                continue
            return None, f"valuesFiles entry {name} does not exist (set ignoreMissingValuesFiles to skip it)"
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            return None, f"valuesFiles entry {name} cannot be read: {str(exc).splitlines()[0]}"
        if loaded is not None and not isinstance(loaded, dict):
            return None, f"valuesFiles entry {name} is not a map of values"
        merged = merge_maps(merged, loaded or {})
    return merged, None


# ---------------------------------------------------------------- helm template and the post-renderers


@dataclass
class ReleaseRender:
    objects: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (object, chart template)
    error: tuple[str, str] | None = None  # (rule, message)


_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)


def _documents(text: str) -> Iterator[tuple[dict[str, Any], str]]:
    for chunk in re.split(r"^---[ \t]*$", text, flags=re.MULTILINE):
        source = _SOURCE.search(chunk)
        obj = yaml.safe_load(chunk)
        if isinstance(obj, dict) and obj.get("kind"):
            yield obj, source.group(1).strip() if source else ""


def crds_policy(obj: dict[str, Any]) -> str:
    """install.crds: Skip, Create (the default) or CreateReplace."""
    install = mapping(_spec(obj).get("install"))
    return str(install.get("crds") or "Create")


def template_args(obj: dict[str, Any], chart_dir: Path, values_file: Path, kube_version: str,
                  api_versions: list[str]) -> list[str]:
    spec = _spec(obj)
    install = mapping(spec.get("install"))
    if re.fullmatch(r"v?\d+\.\d+", kube_version):
        kube_version = f"v{kube_version.lstrip('v')}.0"  # "1.34": a whole version, as the API server reports it
    args = ["template", release_name(obj), str(chart_dir), "--namespace", release_namespace(obj),
            "--values", str(values_file), "--skip-tests", "--kube-version", kube_version]
    args.append("--skip-crds" if crds_policy(obj) == "Skip" else "--include-crds")
    if install.get("disableHooks") is True:
        args.append("--no-hooks")
    for api in api_versions:
        args += ["--api-versions", api]
    return args


def _post_render(obj: dict[str, Any], rendered: str, work: Path, kustomize: Any, timeout: float) -> str:
    """Flux's kustomize post-renderers (patches, images), in order, on helm's output, with the real
    kustomize. Raises RuntimeError with kustomize's message."""
    from .render import run_kustomize  # render.py is the kustomize runner; imported here to keep helm.py light

    renderers = _spec(obj).get("postRenderers")
    steps = [p.get("kustomize") for p in renderers if isinstance(p, dict)] if isinstance(renderers, list) else []
    text = rendered
    for number, step in enumerate(s for s in steps if isinstance(s, dict)):
        if not (step.get("patches") or step.get("images")):
            continue
        folder = work / f"post-{number}"
        folder.mkdir()
        (folder / "resources.yaml").write_text(text, encoding="utf-8")
        kustomization: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                         "resources": ["resources.yaml"]}
        if step.get("patches"):
            kustomization["patches"] = step["patches"]
        if step.get("images"):
            kustomization["images"] = step["images"]
        (folder / "kustomization.yaml").write_text(json.dumps(kustomization), encoding="utf-8")
        code, out, err = run_kustomize(kustomize, folder, timeout)
        if code != 0:
            lines = [line for line in err.strip().splitlines() if line.strip()]
            raise RuntimeError(lines[-1] if lines else f"kustomize exit {code}")
        text = out
    return text


def _label(obj: dict[str, Any], release: dict[str, Any]) -> None:
    """commonMetadata, then the origin labels (they win on a clash), on metadata only: helm-controller's
    label transformer touches metadata/labels, never selectors or pod templates."""
    spec, meta = _spec(release), _meta(release)
    common = mapping(spec.get("commonMetadata"))
    target = obj.setdefault("metadata", {})
    if not isinstance(target, dict):
        return
    annotations = mapping(common.get("annotations"))
    if annotations:
        target["annotations"] = {**(target.get("annotations") or {}), **annotations}
    labels = mapping(common.get("labels"))
    labels = {**labels, f"{HELM_GROUP}/name": str(meta.get("name") or ""),
              f"{HELM_GROUP}/namespace": str(meta.get("namespace") or "default")}
    target["labels"] = {**(target.get("labels") or {}), **labels}


def helm_error(stderr: str, code: int) -> str:
    """helm's own message: its `Error:` line (the lines after it are hints such as "Use --debug")."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    return (errors[0] if errors else lines[0] if lines else f"helm exit {code}").removeprefix("Error: ")


def render_release(helm: Helm, obj: dict[str, Any], chart_dir: Path, values: dict[str, Any], kube_version: str,
                   api_versions: list[str], kustomize: Any, timeout: float,
                   defaults: dict[str, Any] | None = None) -> ReleaseRender:
    """`defaults`: values that replace the chart's values.yaml (chart_values), on a scratch copy of the chart."""
    out = ReleaseRender()
    with tempfile.TemporaryDirectory(prefix="mlplatform-helm-") as tmp:
        work = Path(tmp)
        if defaults is not None:
            copy = work / "chart" / chart_dir.name
            shutil.copytree(chart_dir, copy, symlinks=True)  # symlinks were checked: none leaves the source
            (copy / "values.yaml").write_text(json.dumps(defaults), encoding="utf-8")
            chart_dir = copy
        values_file = work / "values.yaml"
        values_file.write_text(json.dumps(values), encoding="utf-8")  # JSON is YAML, and keeps types exact
        args = template_args(obj, chart_dir, values_file, kube_version, api_versions)
        try:
            proc = subprocess.run([helm.path, *args], capture_output=True, text=True, timeout=timeout,
                                  cwd=work, env=offline_env(work / "home"))
        except subprocess.TimeoutExpired:
            out.error = (TEMPLATE_FAILED, f"helm template took longer than {timeout:.0f} s")
            return out
        if proc.returncode != 0:
            message = helm_error(proc.stderr, proc.returncode)
            if "missing in charts/ directory" in message:
                # source-controller fetches a chart's dependencies; offline they must be vendored in charts/
                out.error = (CHART_UNAVAILABLE, f"chart dependencies are not vendored ({message}); source-controller "
                             "would fetch them, this tool does not")
            else:
                out.error = (TEMPLATE_FAILED, f"helm template fails: {message}")
            return out
        templates = {}
        try:
            for item, template in _documents(proc.stdout):
                templates[ObjectRef.of(item)] = template
            text = _post_render(obj, proc.stdout, work, kustomize, timeout)
            for item, _ in _documents(text):
                _label(item, obj)
                out.objects.append((item, templates.get(ObjectRef.of(item), "")))
        except RuntimeError as exc:
            out.error = (POST_RENDER_FAILED, f"postRenderers fail in kustomize: {exc}")
        except yaml.YAMLError as exc:
            out.error = (TEMPLATE_FAILED, f"helm template wrote output that is not YAML: {exc}")
    return out


def chart_symlink_escape(root: Path, chart_dir: Path) -> str | None:
    """A symlink in the chart (hidden files too: helm loads them for .Files) that leaves `root`, this repository
    or the chart cache: helm would read through it."""
    if contain.resolve_inside(root, chart_dir) is None:
        return str(chart_dir)
    for directory, subdirectories, files in os.walk(chart_dir, followlinks=False):
        for name in [*subdirectories, *files]:
            path = Path(directory) / name
            if path.is_symlink() and contain.resolve_inside(root, path) is None:
                return str(path)
    return None


# ---------------------------------------------------------------- filling the chart cache (`charts pull`)


def pull_chart(binary: Helm, request: ChartRequest, cache: Path, timeout: float = TIMEOUT_SECONDS) -> str | None:
    """`helm pull` of one remote chart into the cache; the only place that reaches a network. Returns an
    error message, or None when the chart is in the cache."""
    target = cache_path(cache, request.url, request.chart, request.version)
    args = [binary.path, "pull", request.pull_ref, "--untar"]
    if request.pull_repo:
        args += ["--repo", request.pull_repo]
    if request.version and request.version not in ("*", "latest"):
        args += ["--version", request.version]
    with tempfile.TemporaryDirectory(prefix="mlplatform-pull-") as tmp:
        work = Path(tmp)
        # the user's Helm home stays out (no stored credentials or repositories), the network does not
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
        env.update({"HELM_CACHE_HOME": str(work / "home/cache"), "HELM_CONFIG_HOME": str(work / "home/config"),
                    "HELM_DATA_HOME": str(work / "home/data"), "HELM_PLUGINS": str(work / "home/plugins")})
        try:
            proc = subprocess.run([*args, "--untardir", str(work / "out")], capture_output=True, text=True,
                                  timeout=timeout, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"helm pull did not finish: {exc}"
        if proc.returncode != 0:
            return helm_error(proc.stderr, proc.returncode)
        charts = [d for d in (work / "out").iterdir() if (d / "Chart.yaml").is_file()] if (work / "out").is_dir() \
            else []
        if len(charts) != 1:
            return "helm pull did not unpack one chart"
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(charts[0]), str(target))
    return None
