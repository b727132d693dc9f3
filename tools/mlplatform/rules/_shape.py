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
    return value is None or (isinstance(value, list) and all(isinstance(v, dict) for v in value))


def pod_spec_misfit(spec: dict[str, Any]) -> str | None:
    """misfit(spec, POD_SPEC, "template.spec"), unrolled for the common fields: it runs for every template."""
    for fieldname in ("containers", "initContainers"):
        items = spec.get(fieldname)
        if items is None:
            continue
        if not isinstance(items, list):
            return f"template.spec.{fieldname}"
        for i, c in enumerate(items):
            if not isinstance(c, dict):
                return f"template.spec.{fieldname}[{i}]"
            resources = c.get("resources")
            if resources is not None and (
                not isinstance(resources, dict)
                or not _is(resources.get("requests"), dict)
                or not _is(resources.get("limits"), dict)
            ):
                return misfit(c, _CONTAINER, f"template.spec.{fieldname}[{i}]")
            if not _is(c.get("args"), list) or not _is(c.get("command"), list):
                return misfit(c, _CONTAINER, f"template.spec.{fieldname}[{i}]")
            if not _list_of_dicts(c.get("env")) or not _list_of_dicts(c.get("volumeMounts")):
                return misfit(c, _CONTAINER, f"template.spec.{fieldname}[{i}]")
    if not _list_of_dicts(spec.get("tolerations")) or not _list_of_dicts(spec.get("volumes")):
        return misfit(spec, POD_SPEC, "template.spec")
    if not _is(spec.get("nodeSelector"), dict) or not _is(spec.get("overhead"), dict):
        return misfit(spec, POD_SPEC, "template.spec")
    if not _is(spec.get("affinity"), dict) or not _list_of_dicts(spec.get("topologySpreadConstraints")):
        return misfit(spec, POD_SPEC, "template.spec")
    return None
