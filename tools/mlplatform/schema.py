"""Schema validation of rendered objects (core kinds from kubernetes-validate, CRDs from schema locations).

Core kinds use the strict schemas that the kubernetes-validate package bundles per Kubernetes minor version.
Custom resources use, in this order, the CRDs found in the same cluster's rendered output and then the schema
locations (directories in `<group>/<kind>_<version>.json` layout, or kubeconform-style URL templates).
Every schema is made self-contained once (its `$ref`s to the bundled `_definitions.json` become local
`$defs`), compiled with jsonschema_rs and cached per (apiVersion, kind): validating an object then takes
a few microseconds.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs

from . import sops
from .errors import ToolError
from .model import Finding, Manifest, Severity

RULE = "schema/invalid"
RULE_MISSING = "schema/missing"  # a kind with no schema: not validated (an error with --strict)
MAX_PROBLEMS_PER_OBJECT = 20  # beyond this a wall of errors hides the first (usually the real) mistake
REMOTE_TIMEOUT_SECONDS = 5.0
_BUNDLE_PACKAGE = "kubernetes_validate"
_BUNDLE_DIR = "kubernetes-json-schema"
_DEFS_PREFIXES = (
    "/api/_definitions.json#/$defs/",
    "https://kubernetes.io/api/_definitions.json#/$defs/",
    "#/$defs/",
)
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_TEMPLATE_VAR = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# What a group, version and kind may look like before they become part of a path or URL: an object's
# apiVersion like "../../x" must not make us read files outside the schema locations.
_SAFE_GROUP = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9]+$")
MAX_SCHEMA_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class SchemaProblem:
    """One way an object breaks its schema: where (a JSON path like `spec.containers[0].image`) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(root)'}: {self.message}"


@dataclass
class ObjectCheck:
    """The result of validating one object (or one item of a List)."""

    problems: list[SchemaProblem] = field(default_factory=list)
    schema_found: bool = True
    missing_reason: str = ""  # when schema_found is False: what was looked for, and where


@dataclass
class _Compiled:
    validator: Any  # a jsonschema_rs validator
    source: str  # where the schema came from, for messages


# ---------------------------------------------------------------- Kubernetes versions


def bundle_root() -> Path:
    """kubernetes-validate's schema directory, found without importing the package (that costs ~0.2 s)."""
    spec = importlib.util.find_spec(_BUNDLE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ToolError(
            "the kubernetes-validate package is not installed (it provides the Kubernetes schemas)"
        )
    root = Path(next(iter(spec.submodule_search_locations))) / _BUNDLE_DIR
    if not root.is_dir():
        raise ToolError(f"kubernetes-validate has no schema directory at {root}")
    return root


def bundled_versions() -> list[str]:
    """The Kubernetes minor versions ("1.34") whose strict schemas kubernetes-validate bundles."""
    root = bundle_root()
    found = []
    for entry in root.iterdir():
        match = re.fullmatch(r"v(\d+)\.(\d+)\.0-local-strict", entry.name)
        if match:
            found.append((int(match.group(1)), int(match.group(2))))
    return [f"{major}.{minor}" for major, minor in sorted(found)]


def normalize_kubernetes_version(version: str) -> str:
    """ "v1.34", "1.34.2" -> "1.34"; a ToolError for text that is not a version or a version not bundled."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?", str(version).strip())
    if not match:
        raise ToolError(f"Kubernetes version {version!r} is not a version like 1.34")
    minor = f"{int(match.group(1))}.{int(match.group(2))}"
    available = bundled_versions()
    if minor not in available:
        span = f"{available[0]} to {available[-1]}" if available else "none"
        raise ToolError(
            f"Kubernetes version {minor} has no bundled schemas in kubernetes-validate "
            f"(bundled: {span}); choose one of those with --kubernetes-version or the config file"
        )
    return minor


# ---------------------------------------------------------------- schema preparation


def _is_types_only(schema: Any) -> bool:
    return isinstance(schema, dict) and set(schema) <= {"type", "description"} and "type" in schema


def _type_list(schema: dict[str, Any]) -> list[str]:
    value = schema["type"]
    return list(value) if isinstance(value, list) else [value]


def _localize(schema: Any, refs: set[str]) -> Any:
    """A copy of `schema` with refs into `_definitions.json` made local (`#/$defs/<name>`), names collected.

    Descriptions are dropped on the way: they are a third of the bundle and never affect validation.
    """
    if isinstance(schema, list):
        return [_localize(item, refs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref" and isinstance(value, str) and value.startswith(_DEFS_PREFIXES):
            name = value.rsplit("/", 1)[-1]
            out[key] = f"#/$defs/{name}"
            refs.add(name)
        elif key in ("description", "$id", "$schema") and isinstance(value, str):
            continue  # (a foreign $id would also redirect the local refs of the self-contained schema)
        elif key == "oneOf" and isinstance(value, list) and value and all(_is_types_only(v) for v in value):
            # IntOrString and Quantity are `oneOf` of types that both admit null, so a null value would
            # match both branches and fail `oneOf`; a union of the types says the same thing correctly.
            types: list[str] = []
            for branch in value:
                types += [t for t in _type_list(branch) if t not in types]
            out["type"] = types
        else:
            out[key] = _localize(value, refs) if isinstance(value, dict | list) else value
    return out


class _Definitions:
    """The bundled `_definitions.json`, each definition localized once and shared by every kind using it."""

    def __init__(self, raw: dict[str, Any]):
        self.raw = raw
        self._local: dict[str, tuple[Any, frozenset[str]]] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.raw

    def closure(self, refs: Iterable[str]) -> dict[str, Any]:
        """The localized definitions reachable from `refs` (recursive definitions included once)."""
        found: dict[str, Any] = {}
        todo = list(refs)
        while todo:
            name = todo.pop()
            if name in found or name not in self.raw:
                continue
            if name not in self._local:
                more: set[str] = set()
                self._local[name] = (_localize(self.raw[name], more), frozenset(more))
            found[name], more_refs = self._local[name]
            todo.extend(more_refs)
        return dict(sorted(found.items()))


def make_strict(schema: Any) -> Any:
    """Make a CRD's openAPIV3Schema strict the way the shared CRD schemas are, in place; returns it.

    Objects that declare properties reject unknown fields unless they preserve unknown fields;
    x-kubernetes-int-or-string becomes integer-or-string; `nullable` admits null; embedded resources
    implicitly allow apiVersion, kind and metadata.
    """
    if not isinstance(schema, dict):
        return schema
    if schema.get("x-kubernetes-int-or-string") is True and "anyOf" not in schema:
        schema.pop("type", None)
        schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") is True:
        # null stands for "not set" on a nullable field, so it passes type and enum alike.
        if isinstance(schema.get("type"), str):
            schema["type"] = [schema["type"], "null"]
        if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
    properties = schema.get("properties")
    if isinstance(properties, dict):
        if schema.get("x-kubernetes-embedded-resource") is True:
            for implicit, implicit_type in (
                ("apiVersion", "string"),
                ("kind", "string"),
                ("metadata", "object"),
            ):
                properties.setdefault(implicit, {"type": implicit_type})
        if (
            schema.get("x-kubernetes-preserve-unknown-fields") is not True
            and "additionalProperties" not in schema
        ):
            schema["additionalProperties"] = False
        for child in properties.values():
            make_strict(child)
    for key in ("items", "additionalProperties", "not"):
        child = schema.get(key)
        if isinstance(child, dict):
            make_strict(child)
        elif key == "items" and isinstance(child, list):
            for item in child:
                make_strict(item)
    for key in ("allOf", "anyOf", "oneOf"):
        for child in schema.get(key) or []:
            make_strict(child)
    return schema


def _with_object_meta(schema: dict[str, Any], definitions: _Definitions) -> dict[str, Any]:
    """Check a custom resource's top-level `metadata` as ObjectMeta (CRD schemas only say `type: object`)."""
    properties = schema.get("properties")
    if not isinstance(properties, dict) or _OBJECT_META not in definitions:
        return schema
    for implicit in ("apiVersion", "kind"):
        properties.setdefault(implicit, {"type": "string"})
    metadata = properties.get("metadata")
    if metadata is None or (
        isinstance(metadata, dict) and "properties" not in metadata and "$ref" not in metadata
    ):
        properties["metadata"] = {"$ref": f"#/$defs/{_OBJECT_META}"}
    return schema


def _compile(schema: dict[str, Any], definitions: _Definitions, source: str) -> _Compiled:
    refs: set[str] = set()
    body = _localize(schema, refs)
    needed = definitions.closure(refs)
    if needed:
        own = body.get("$defs")
        body["$defs"] = {**own, **needed} if isinstance(own, dict) else needed
    try:
        # Formats stay annotations: `int32`/`int64`/`byte` are not JSON Schema formats, and the API server's
        # handling of the others differs from JSON Schema's; types, enums and patterns carry the real checks.
        validator = jsonschema_rs.Draft202012Validator(body, validate_formats=False)
    except (jsonschema_rs.ValidationError, ValueError) as exc:
        raise ToolError(f"schema from {source} cannot be compiled: {_first_line(str(exc))}") from exc
    return _Compiled(validator, source)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


# ---------------------------------------------------------------- schema sources


class _Location:
    """One schema location: a directory in <group>/<kind>_<version>.json layout, or a URL/path template."""

    def __init__(self, spec: str, kubernetes_version: str, strict: bool):
        self.spec = spec
        self._kubernetes_version = kubernetes_version
        self._strict = strict
        self._is_template = "{{" in spec
        if self._is_template:
            for var in _TEMPLATE_VAR.findall(spec):
                if var not in _TEMPLATE_VARS:
                    raise ToolError(
                        f"schema location {spec}: unknown template variable {{{{.{var}}}}} "
                        f"(known: {', '.join(sorted(_TEMPLATE_VARS))})"
                    )
        else:
            directory = Path(spec[len("file://") :]) if spec.startswith("file://") else Path(spec)
            if "://" not in spec or spec.startswith("file://"):
                if not directory.is_dir():
                    raise ToolError(f"schema location {spec}: not a directory")

    def target(self, group: str, version: str, kind: str) -> str:
        if not self._is_template:
            base = self.spec.rstrip("/")
            return f"{base}/{group}/{kind.lower()}_{version}.json"
        values = {
            "Group": group,
            "ResourceKind": kind.lower(),
            "ResourceAPIVersion": version,
            "NormalizedKubernetesVersion": f"v{self._kubernetes_version}.0",
            "StrictSuffix": "-strict" if self._strict else "",
            "KindSuffix": f"-{group.split('.')[0]}-{version}" if group else f"-{version}",
        }
        return _TEMPLATE_VAR.sub(lambda m: values[m.group(1)], self.spec)


_TEMPLATE_VARS = {
    "Group",
    "ResourceKind",
    "ResourceAPIVersion",
    "NormalizedKubernetesVersion",
    "StrictSuffix",
    "KindSuffix",
}


def _read_json(target: str) -> Any | None:
    """The JSON at a path or file:// or http(s):// URL; None when absent (a ToolError when broken)."""
    if target.startswith(("http://", "https://")):
        # imported here: urllib.request pulls in http, ssl and email (~55 ms of every start-up), and only a
        # remote schema location (never this repository's own) needs it
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(target, timeout=REMOTE_TIMEOUT_SECONDS) as response:  # noqa: S310
                raw = response.read(MAX_SCHEMA_BYTES + 1)
            if len(raw) > MAX_SCHEMA_BYTES:
                raise ToolError(f"schema is larger than {MAX_SCHEMA_BYTES // (1024 * 1024)} MiB", target)
            text = raw.decode("utf-8")
        except (urllib.error.URLError, TimeoutError, OSError, UnicodeDecodeError):
            return None  # unreachable or 404: the kind is reported as having no schema
    else:
        path = Path(target[len("file://") :] if target.startswith("file://") else target)
        if not path.is_file():
            return None
        if path.stat().st_size > MAX_SCHEMA_BYTES:
            raise ToolError(f"schema is larger than {MAX_SCHEMA_BYTES // (1024 * 1024)} MiB", str(path))
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ToolError(f"cannot read schema: {exc}", str(path)) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolError(f"schema is not valid JSON: {exc.msg}", target, exc.lineno) from exc


class _SchemaStore:
    """Core and schema-location schemas, compiled once per (apiVersion, kind) and shared by every cluster."""

    def __init__(self, kubernetes_version: str, schema_locations: Sequence[str], strict: bool):
        self.kubernetes_version = normalize_kubernetes_version(kubernetes_version)
        self._bundle = bundle_root() / f"v{self.kubernetes_version}.0-local-strict"
        self.locations = [_Location(loc, self.kubernetes_version, strict) for loc in schema_locations]
        self._definitions: _Definitions | None = None
        self._compiled: dict[tuple[str, str], _Compiled | None] = {}
        # Clusters are validated in threads that share this store: a kind is compiled under the lock, and a
        # reader never sees a half-made entry (only finished results are stored).
        self._lock = threading.RLock()

    @property
    def definitions(self) -> _Definitions:
        if self._definitions is None:
            with self._lock:
                if self._definitions is None:
                    raw = json.loads((self._bundle / "_definitions.json").read_text(encoding="utf-8"))
                    self._definitions = _Definitions(raw.get("$defs", {}))
        return self._definitions

    def core(self, group: str, version: str, kind: str) -> _Compiled | None:
        key = (f"{group}/{version}" if group else version, kind)
        if key not in self._compiled:
            with self._lock:
                if key not in self._compiled:
                    self._compiled[key] = self._load_core(group, version, kind)
        return self._compiled[key]

    def _load_core(self, group: str, version: str, kind: str) -> _Compiled | None:
        # kubernetes-validate names files <kind>-<first label of group>-<version>.json; the first label is
        # ambiguous (apps.example.com), so the schema's own group-version-kind must match exactly.
        suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
        entry = self._bundle / f"{kind.lower()}{suffix}.json"
        if not entry.is_file():
            return None
        schema = json.loads(entry.read_text(encoding="utf-8"))
        gvks = schema.get("x-kubernetes-group-version-kind") or []
        if not any(
            g.get("group", "") == group and g.get("version") == version and g.get("kind") == kind
            for g in gvks
        ):
            return None
        return _compile(schema, self.definitions, f"Kubernetes {self.kubernetes_version}")

    def located(self, group: str, version: str, kind: str) -> _Compiled | None:
        key = (f"located:{group}/{version}", kind)
        if key not in self._compiled:
            with self._lock:
                if key not in self._compiled:
                    self._compiled[key] = self._load_located(group, version, kind)
        return self._compiled[key]

    def _load_located(self, group: str, version: str, kind: str) -> _Compiled | None:
        if (group and not _SAFE_GROUP.match(group)) or not _SAFE_NAME.match(version) or not _SAFE_NAME.match(kind):
            return None
        for location in self.locations:
            target = location.target(group, version, kind)
            schema = _read_json(target)
            if isinstance(schema, dict):
                prepared = _with_object_meta(make_strict(schema), self.definitions)
                return _compile(prepared, self.definitions, target)
        return None


_SHARED_STORES: dict[tuple[str, tuple[str, ...], bool], _SchemaStore] = {}
_SHARED_STORES_LOCK = threading.Lock()
_SHARED_STORES_MAX = 8


def shared_store(kubernetes_version: str, schema_locations: Sequence[str], strict: bool) -> _SchemaStore:
    """One store per settings for the whole process, so clusters checked one after another (or in threads)
    compile each kind once: compiling is ~10 ms a kind, validating a few microseconds an object."""
    key = (str(kubernetes_version), tuple(schema_locations), strict)
    with _SHARED_STORES_LOCK:
        store = _SHARED_STORES.get(key)
        if store is None:
            store = _SchemaStore(kubernetes_version, schema_locations, strict)
            if len(_SHARED_STORES) >= _SHARED_STORES_MAX:
                _SHARED_STORES.pop(next(iter(_SHARED_STORES)))
            _SHARED_STORES[key] = store
        return store


def crd_schemas(crd: dict[str, Any]) -> Iterator[tuple[tuple[str, str, str], str, Any]]:
    """((group, version, kind), JSON path, openAPIV3Schema) for each served version of a CRD object."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return
    group = spec.get("group")
    names = spec.get("names")
    kind = names.get("kind") if isinstance(names, dict) else None
    versions = spec.get("versions")
    if not isinstance(group, str) or not isinstance(kind, str) or not isinstance(versions, list):
        return
    for index, entry in enumerate(versions):
        if (
            not isinstance(entry, dict)
            or entry.get("served") is False
            or not isinstance(entry.get("name"), str)
        ):
            continue
        schema = (
            (entry.get("schema") or {}).get("openAPIV3Schema")
            if isinstance(entry.get("schema"), dict)
            else None
        )
        if isinstance(schema, dict):
            yield (group, entry["name"], kind), f"spec.versions[{index}].schema.openAPIV3Schema", schema


def is_crd(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and obj.get("kind") == "CustomResourceDefinition"
        and str(obj.get("apiVersion", "")).startswith("apiextensions.k8s.io/")
    )


# ---------------------------------------------------------------- the validator


class SchemaValidator:
    """Validates objects against core, CRD and schema-location schemas; compiled validators are cached."""

    def __init__(
        self,
        kubernetes_version: str,
        schema_locations: Sequence[str] = (),
        *,
        strict: bool = False,
        crds: Iterable[dict[str, Any]] = (),
        _store: _SchemaStore | None = None,
    ):
        self.strict = strict
        self._store = _store or _SchemaStore(kubernetes_version, schema_locations, strict)
        self._crd_raw: dict[tuple[str, str, str], tuple[Any, str, str]] = {}  # gvk -> schema, path, CRD name
        self._crd_compiled: dict[tuple[str, str, str], _Compiled] = {}
        self._crd_errors: dict[tuple[str, str, str], str] = {}
        for crd in crds:
            self.add_crd(crd)

    @property
    def kubernetes_version(self) -> str:
        return self._store.kubernetes_version

    def with_crds(self, crds: Iterable[dict[str, Any]]) -> SchemaValidator:
        """A validator for one cluster: the same compiled core/location schemas plus that cluster's CRDs."""
        return SchemaValidator(self.kubernetes_version, strict=self.strict, crds=crds, _store=self._store)

    def add_crd(self, crd: dict[str, Any]) -> None:
        """Register the schemas of a CustomResourceDefinition object (compiled when first needed)."""
        meta = crd.get("metadata")
        name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
        for gvk, path, schema in crd_schemas(crd):
            self._crd_raw.setdefault(gvk, (schema, path, name))

    def _crd(self, gvk: tuple[str, str, str]) -> _Compiled | None:
        if gvk in self._crd_compiled:
            return self._crd_compiled[gvk]
        if gvk not in self._crd_raw:
            return None
        schema, path, name = self._crd_raw[gvk]
        prepared = _with_object_meta(make_strict(_plain(schema)), self._store.definitions)
        source = f"CustomResourceDefinition {name} ({path})"
        try:
            compiled = _compile(prepared, self._store.definitions, source)
        except ToolError as exc:
            # Reported on the CRD object by check_crds(); objects of the kind then fall back to other sources.
            self._crd_errors[gvk] = exc.message
            del self._crd_raw[gvk]
            return None
        self._crd_compiled[gvk] = compiled
        return compiled

    def check_crds(self, crd: dict[str, Any]) -> list[SchemaProblem]:
        """Problems that make a CRD's schemas unusable for validation (a schema that does not compile)."""
        problems = []
        for gvk, path, schema in crd_schemas(crd):
            registered = self._crd_raw.get(gvk)
            if registered is not None and registered[0] is not schema:
                continue  # another CRD object defines this kind first; its own check reports it
            if self._crd(gvk) is None and gvk in self._crd_errors:
                problems.append(
                    SchemaProblem(
                        path,
                        f"the schema of {gvk[2]} {gvk[1]} cannot be used for "
                        f"validation: {self._crd_errors[gvk]}",
                    )
                )
        return problems

    def lookup(self, api_version: str, kind: str) -> _Compiled | None:
        group, _, version = api_version.rpartition("/")
        return (
            self._store.core(group, version, kind)
            or self._crd((group, version, kind))
            or self._store.located(group, version, kind)
        )

    def check(self, obj: Any) -> ObjectCheck:
        """Validate one object; a `List` validates each item (paths start with `items[i]`)."""
        if not isinstance(obj, dict):
            return ObjectCheck([SchemaProblem("", f"expected an object (a mapping), got {_json_type(obj)}")])
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        missing = [
            k for k, v in (("apiVersion", api_version), ("kind", kind)) if not isinstance(v, str) or not v
        ]
        if missing:
            return ObjectCheck(
                [SchemaProblem(m, "required field is missing (or not a string)") for m in missing]
            )
        # both are non-empty strings now (the check above); str() tells the type checker so
        api_version, kind = str(api_version), str(kind)
        if kind == "List" and api_version == "v1" and isinstance(obj.get("items"), list):
            result = ObjectCheck()
            for index, item in enumerate(obj["items"]):
                sub = self.check(item)
                result.problems += [
                    SchemaProblem(_join(f"items[{index}]", p.path), p.message) for p in sub.problems
                ]
                if not sub.schema_found:
                    result.schema_found = False
                    result.missing_reason = sub.missing_reason
            return result
        compiled = self.lookup(api_version, kind)
        if compiled is None:
            return ObjectCheck(schema_found=False, missing_reason=self._missing_reason(api_version, kind))
        if sops.is_encrypted_secret(obj):
            # Flux decrypts it before applying: the `sops` metadata and ciphertexts never reach the API server
            obj = sops.decrypted_placeholder(obj)
        return ObjectCheck(_problems(compiled.validator, obj))

    def validate_object(self, obj: Any) -> list[tuple[str, str]]:
        """(JSON path, message) for each problem; a kind with no schema gives ("", "no schema for ...")."""
        result = self.check(obj)
        pairs = [(p.path, p.message) for p in result.problems]
        if not result.schema_found:
            pairs.append(("", result.missing_reason))
        return pairs

    def _missing_reason(self, api_version: str, kind: str) -> str:
        where = [f"Kubernetes {self.kubernetes_version} built-in kinds"]
        if self._crd_raw or self._crd_compiled:
            where.append("CRDs among the validated objects")
        if self._store.locations:
            where.append(f"{len(self._store.locations)} schema location(s)")
        else:
            where.append("no schema locations configured")
        group, _, version = api_version.rpartition("/")
        return (
            f"no schema for {kind} {api_version} (looked in: {', '.join(where)}); add "
            f"{group or 'core'}/{kind.lower()}_{version}.json to a schema location, or render its CRD"
        )


# ---------------------------------------------------------------- errors to messages


def _problems(validator: Any, obj: dict[str, Any]) -> list[SchemaProblem]:
    try:
        if validator.is_valid(obj):  # the fast path: no error objects are built for a valid object
            return []
        errors = list(validator.iter_errors(obj))
    except ValueError:
        obj = _plain(obj)  # non-string keys, bytes, sets: convert the way YAML-to-JSON would
        if validator.is_valid(obj):
            return []
        errors = list(validator.iter_errors(obj))
    problems: list[SchemaProblem] = []
    for error in errors:
        problems += _describe(error)
    problems = sorted(set(problems), key=lambda p: (p.path, p.message))
    if len(problems) > MAX_PROBLEMS_PER_OBJECT:
        extra = len(problems) - MAX_PROBLEMS_PER_OBJECT
        problems = problems[:MAX_PROBLEMS_PER_OBJECT] + [
            SchemaProblem("", f"... and {extra} more schema problems")
        ]
    return problems


def _describe(error: Any) -> list[SchemaProblem]:
    path = json_path(error.instance_path)
    name = error.kind.name
    details = error.kind.as_dict()
    if name == "additionalProperties":
        return [
            SchemaProblem(_join(path, _path_part(u)), "unknown field") for u in details.get("unexpected", [])
        ]
    if name == "required":
        return [SchemaProblem(_join(path, _path_part(details.get("property"))), "required field is missing")]
    if name == "type":
        expected = [t for t in details.get("types", []) if t != "null"] or details.get("types", [])
        return [
            SchemaProblem(
                path,
                f"wrong type: expected {' or '.join(expected)}, got "
                f"{_json_type(error.instance)} {_short(error.instance)}",
            )
        ]
    if name == "enum":
        options = ", ".join(_short(o) for o in details.get("options", []) if o is not None)
        return [SchemaProblem(path, f"{_short(error.instance)} is not one of: {options}")]
    if name in ("anyOf", "oneOfNotValid"):
        types = _branch_types(details.get("context") or [])
        if types:
            return [
                SchemaProblem(
                    path,
                    f"wrong type: expected {' or '.join(types)}, got "
                    f"{_json_type(error.instance)} {_short(error.instance)}",
                )
            ]
    if name == "falseSchema":
        return [SchemaProblem(path, "field is not allowed here")]
    return [SchemaProblem(path, _shorten_message(error.message, error.instance))]


def _branch_types(context: list[Any]) -> list[str]:
    """Expected types when each branch of anyOf/oneOf failed only on its type (IntOrString and friends)."""
    types: list[str] = []
    for branch in context:
        if len(branch) != 1 or branch[0].kind.name != "type":
            return []
        types += [t for t in branch[0].kind.as_dict().get("types", []) if t != "null" and t not in types]
    return types


def json_path(parts: Iterable[Any]) -> str:
    """["spec", "containers", 0, "image"] -> "spec.containers[0].image" (odd keys quoted: ["a.b/c"])."""
    text = ""
    for part in parts:
        text = _join(text, _path_part(part))
    return text


def _path_part(part: Any) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    key = str(part)
    return key if _PLAIN_KEY.match(key) else f"[{json.dumps(key)}]"


def _join(prefix: str, part: str) -> str:
    if not prefix:
        return part
    if not part:
        return prefix
    return prefix + part if part.startswith("[") else f"{prefix}.{part}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, list):
        return "[...]"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _shorten_message(message: str, instance: Any) -> str:
    """jsonschema_rs messages start with the whole offending value; keep messages one readable line."""
    try:
        rendered = json.dumps(instance, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        rendered = ""
    if rendered and message.startswith(rendered):
        message = _short(instance) + message[len(rendered) :]
    message = " ".join(message.split())
    return message if len(message) <= 200 else message[:197] + "..."


def _plain(value: Any) -> Any:
    """A JSON-compatible copy: string keys (as YAML-to-JSON converts them), bytes as base64, sets as lists."""
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return key if isinstance(key, str) else ("null" if key is None else str(key))


# ---------------------------------------------------------------- manifests to findings


# (manifest, JSON path of a problem) -> the source line of that field; without one, findings name the object
Locate = Callable[[Manifest, str], int]


def _finding(manifest: Manifest, problem: SchemaProblem, locate: Locate | None) -> Finding:
    finding = Finding.on(manifest, RULE, Severity.ERROR, str(problem))
    if locate is not None and problem.path:
        finding.line = locate(manifest, problem.path)
    return finding


def validate_manifests(
    manifests: list[Manifest],
    *,
    kubernetes_version: str,
    schema_locations: list[str],
    strict: bool,
    locate: Locate | None = None,
) -> list[Finding]:
    """Validate every object; a kind with no schema is a warning (an error when strict).

    `locate` turns a problem's JSON path into the line of that field in the object's source.
    """
    base = SchemaValidator(
        kubernetes_version, strict=strict, _store=shared_store(kubernetes_version, schema_locations, strict)
    )
    by_cluster: dict[str | None, list[Manifest]] = {}
    for manifest in manifests:
        by_cluster.setdefault(manifest.cluster, []).append(manifest)
    findings: list[Finding] = []
    for cluster_manifests in by_cluster.values():
        crds = [m for m in cluster_manifests if is_crd(m.obj)]
        validator = base.with_crds(m.obj for m in crds) if crds else base
        for manifest in crds:
            findings += [_finding(manifest, p, locate) for p in validator.check_crds(manifest.obj)]
        findings += validate_with(validator, cluster_manifests, locate)
    return sorted(findings, key=Finding.sort_key)


def validate_with(
    validator: SchemaValidator, manifests: Iterable[Manifest], locate: Locate | None = None
) -> list[Finding]:
    """Findings for manifests with an existing validator (the caller chose the CRDs)."""
    missing_severity = Severity.ERROR if validator.strict else Severity.WARNING
    findings: list[Finding] = []
    for manifest in manifests:
        result = validator.check(manifest.obj)
        findings += [_finding(manifest, p, locate) for p in result.problems]
        if not result.schema_found:
            findings.append(Finding.on(manifest, RULE_MISSING, missing_severity, result.missing_reason))
    return findings
