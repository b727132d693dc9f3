"""Is a pod template shaped as the rules read it? Schema validation reports details; the rules skip it."""

from __future__ import annotations

from typing import Any

# A shape: dict (a mapping whose listed keys have these shapes; others are not read), [shape] (a list of
# items of that shape), or a type tuple for leaves. Absent or null values are always fine.
_CONTAINER = {
    "resources": {"requests": dict, "limits": dict},
    "args": list,
    "command": list,
    "env": [dict],
    "volumeMounts": [dict],
}
# Affinity and spread constraints are only checked at the top: the code reading them is defensive, and a
# deep check of every template would cost a sixth of the whole run.
POD_SPEC: dict[str, Any] = {
    "containers": [_CONTAINER],
    "initContainers": [_CONTAINER],
    "tolerations": [dict],
    "nodeSelector": dict,
    "overhead": dict,
    "volumes": [dict],
    "topologySpreadConstraints": [dict],
    "affinity": dict,
}
METADATA: dict[str, Any] = {"labels": dict, "annotations": dict}


def misfit(value: Any, shape: Any, path: str = "") -> str | None:
    """The first path where `value` does not have `shape`, or None."""
    if value is None:
        return None
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return path or "."
        for key, sub in shape.items():
            found = misfit(value.get(key), sub, f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return path
        for i, item in enumerate(value):
            found = misfit(item, shape[0], f"{path}[{i}]") if item is not None else f"{path}[{i}]"
            if found:
                return found
        return None
    return None if isinstance(value, shape) else path


def _is(value: Any, kind: type) -> bool:
    return value is None or isinstance(value, kind)


def _list_of_dicts(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, list):
        return False
    for item in value:
        if not isinstance(item, dict):
            return False
    return True


def metadata_misfit(meta: Any, path: str) -> str | None:
    """misfit(meta, METADATA, path), unrolled: it runs for every object and template."""
    if meta is None:
        return None
    if not isinstance(meta, dict):
        return path
    if not _is(meta.get("labels"), dict) or not _is(meta.get("annotations"), dict):
        return misfit(meta, METADATA, path)
    return None


def _container_fits(c: dict[str, Any]) -> bool:
    resources = c.get("resources")
    if resources is not None:
        if not isinstance(resources, dict):
            return False
        if not _is(resources.get("requests"), dict) or not _is(resources.get("limits"), dict):
            return False
    return (
        _is(c.get("args"), list)
        and _is(c.get("command"), list)
        and _list_of_dicts(c.get("env"))
        and _list_of_dicts(c.get("volumeMounts"))
    )


def pod_spec_misfit(spec: dict[str, Any]) -> str | None:
    """misfit(spec, POD_SPEC, "template.spec"), unrolled for speed: it runs for every template."""
    for fieldname in ("containers", "initContainers"):
        items = spec.get(fieldname)
        if items is None:
            continue
        if not isinstance(items, list):
            return f"template.spec.{fieldname}"
        for i, c in enumerate(items):
            if not isinstance(c, dict):
                return f"template.spec.{fieldname}[{i}]"
            if not _container_fits(c):
                return misfit(c, _CONTAINER, f"template.spec.{fieldname}[{i}]")
    get = spec.get
    if not (
        _list_of_dicts(get("tolerations"))
        and _list_of_dicts(get("volumes"))
        and _is(get("nodeSelector"), dict)
        and _is(get("overhead"), dict)
        and _is(get("affinity"), dict)
        and _list_of_dicts(get("topologySpreadConstraints"))
    ):
        return misfit(spec, POD_SPEC, "template.spec")
    return None
