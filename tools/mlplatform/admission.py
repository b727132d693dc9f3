"""What the API server's validation rejects in every object whatever its kind: a name that is not a valid
DNS name for the kind, a namespace that is not a DNS label, a ConfigMap or Secret over 1 MiB.

Offline these objects rendered and passed schema validation (the OpenAPI schemas carry no name format), so
Flux would fail at apply time. The rules follow the API server's validation (kubernetes/kubernetes):

- staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go: a DNS-1123 label is at most 63
  characters of [a-z0-9-], starting and ending alphanumeric; a DNS-1123 subdomain at most 253 characters,
  labels joined by dots; a DNS-1035 label is a DNS-1123 label that starts with a letter.
- pkg/apis/core/validation/validation.go: ValidateServiceName is NameIsDNS1035Label, ValidateNamespaceName
  a DNS-1123 label, Pod, ConfigMap, Secret and most other kinds NameIsDNSSubdomain; ValidateConfigMap sums
  the values of data and binaryData, ValidateSecret those of data, and refuses a total over
  MaxSecretSize = 1 * 1024 * 1024 (pkg/apis/core/types.go).
- pkg/apis/rbac/validation: Role/ClusterRole/RoleBinding/ClusterRoleBinding names are path segment names
  (`system:controller:...` is valid), so only "/", "%", "." and ".." are checked for them.
- custom resources: apiextensions-apiserver validates their names as DNS-1123 subdomains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from .model import Finding, Manifest, Severity
from .provenance import field_line

NAME_RULE = "admission/object-name"
NAMESPACE_RULE = "admission/namespace-name"
SIZE_RULE = "admission/object-too-large"

MAX_CONFIG_BYTES = 1024 * 1024  # core.MaxSecretSize, also the ConfigMap limit
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(rf"^{_LABEL}$")
DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

# (kind -> format) for the core kinds whose name is stricter than a subdomain.
_LABEL_KINDS = {"Namespace": "dns1123-label", "Service": "dns1035-label"}
_PATH_SEGMENT_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}


def name_problem(name: str, kind: str) -> str | None:
    """Why the API server would refuse `name` for an object of `kind`, or None."""
    if kind in _PATH_SEGMENT_KINDS:
        if name in (".", ".."):
            return f"may not be {name!r}"
        bad = [c for c in ("/", "%") if c in name]
        return f"may not contain {' or '.join(map(repr, bad))}" if bad else None
    style = _LABEL_KINDS.get(kind, "dns1123-subdomain")
    if style == "dns1035-label":
        limit, pattern, what = 63, DNS1035_LABEL, "a DNS-1035 label (lower-case letters, digits and '-', " \
            "starting with a letter)"
    elif style == "dns1123-label":
        limit, pattern, what = 63, DNS1123_LABEL, "a DNS-1123 label (lower-case letters, digits and '-')"
    else:
        limit, pattern, what = 253, DNS1123_SUBDOMAIN, "a DNS-1123 subdomain (lower-case letters, digits, " \
            "'-' and '.')"
    if len(name) > limit:
        return f"is {len(name)} characters long; a {kind} name may have at most {limit}"
    if not pattern.match(name):
        return f"must be {what}"
    return None


def _shown(name: str) -> str:
    """The name as a message can show it: printable, and not a megabyte long."""
    text = name.encode("unicode_escape").decode("ascii")
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _data_bytes(obj: dict[str, Any]) -> int:
    """The bytes ValidateConfigMap / ValidateSecret sum: the values (not the keys) of data and binaryData,
    binary values decoded; a Secret's stringData joins its data before validation."""
    total = 0
    for section in ("data", "stringData", "binaryData"):
        values = obj.get(section)
        if not isinstance(values, dict):
            continue
        for value in values.values():
            if not isinstance(value, str):
                continue
            raw = value.encode("utf-8", "surrogateescape")
            if section == "binaryData" or (section == "data" and obj.get("kind") == "Secret"):
                total += len(raw) * 3 // 4  # base64: the decoded size, without decoding a huge value
            else:
                total += len(raw)
    return total


def check_objects(manifests: Iterable[Manifest]) -> Iterator[Finding]:
    """One finding per object whose name, namespace or size the API server would reject."""
    for manifest in manifests:
        obj = manifest.obj
        kind = obj.get("kind")
        metadata = obj.get("metadata")
        if not isinstance(kind, str) or not isinstance(metadata, dict):
            continue  # schema validation reports the shape
        name = metadata.get("name")
        if isinstance(name, str) and name and "${" not in name:  # an unsubstituted variable has its finding
            problem = name_problem(name, kind)
            if problem:
                yield _at(manifest, NAME_RULE, "metadata.name", f"{kind} name {_shown(name)} {problem}; the "
                          "API server rejects the object")
        namespace = metadata.get("namespace")
        if isinstance(namespace, str) and namespace and "${" not in namespace:
            problem = name_problem(namespace, "Namespace")
            if problem:
                yield _at(manifest, NAMESPACE_RULE, "metadata.namespace",
                          f"namespace {_shown(namespace)} {problem.replace('a Namespace name', 'a namespace')}; "
                          "the API server rejects the object")
        if kind in ("ConfigMap", "Secret") and obj.get("apiVersion") == "v1":
            size = _data_bytes(obj)
            if size > MAX_CONFIG_BYTES:
                yield _at(manifest, SIZE_RULE, "data", f"{kind} holds {size} bytes of data; the API server "
                          f"accepts at most {MAX_CONFIG_BYTES} (1 MiB): split it or mount the file another way")


def _at(manifest: Manifest, rule: str, path: str, message: str) -> Finding:
    return Finding(rule, Severity.ERROR, message, cluster=manifest.cluster, file=manifest.source.file,
                   line=field_line(manifest, path), object=manifest.ref)

