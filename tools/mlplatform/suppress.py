"""Exemptions, severity overrides and disabled rules, for every rule, in one place.

Rules report what they see; this layer decides what a run reports, from the catalog (rulecatalog.py):
- an object annotation `mlplatform.example.com/exempt-<name>: "<reason>"` (on the object or a pod template
  of it) suppresses that rule's findings on the object;
- `.mlplatform.yaml` `rules:` (parse_settings) disables rules, overrides their severity, and exempts findings
  on files that are not objects (Terraform, pool files, hygiene) by rule id + file glob and/or object.
A suppressed finding is not dropped: it is kept with its reason (Finding.suppression), and JSON and SARIF
show it, as checkov keeps skipped checks. An empty reason does not exempt (policy/exemption-reason reports it);
a rule the catalog marks not exemptable is neither exempted, disabled nor downgraded.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import rulecatalog
from .errors import InputError
from .model import Finding, Manifest, ObjectRef, Severity, Suppression
from .workloads import pod_templates

SETTINGS_KEY = "rules"
_KEYS = frozenset({"disabled", "severity", "exemptions"})
_EXEMPTION_KEYS = frozenset({"rule", "file", "object", "reason"})


@dataclass(frozen=True)
class FileExemption:
    """One `rules.exemptions` entry: which findings (rule, file glob, object) and why."""

    rule: str
    reason: str
    file: str | None = None  # a glob on the repository-relative path (fnmatch: `*` crosses `/`)
    object: str | None = None  # "Kind/name" or "Kind/namespace/name"
    line: int = 1  # of the entry in .mlplatform.yaml, for messages

    def matches(self, finding: Finding) -> bool:
        if finding.rule != self.rule:
            return False
        if self.file is not None and not (finding.file and fnmatch.fnmatchcase(finding.file, self.file)):
            return False
        return self.object is None or (finding.object is not None and _object_matches(self.object, finding.object))


@dataclass(frozen=True)
class RuleSettings:
    disabled: frozenset[str] = frozenset()
    severity: dict[str, Severity] = field(default_factory=dict)
    exemptions: tuple[FileExemption, ...] = ()


def _object_matches(pattern: str, ref: ObjectRef) -> bool:
    parts = pattern.split("/")
    if len(parts) == 2:
        return parts[0] == ref.kind and parts[1] == ref.name
    return len(parts) == 3 and parts == [ref.kind, ref.namespace or "", ref.name]


def _line(node: Any, key: Any, default: int) -> int:
    return node.line_of(key) if hasattr(node, "line_of") else default


def _known_rule(rule: Any, file: str, line: int, what: str) -> rulecatalog.RuleSpec:
    spec = rulecatalog.spec(str(rule)) if isinstance(rule, str) else None
    if spec is None:
        raise InputError(f"{SETTINGS_KEY}.{what}: {rule!r} is not a rule id (see `mlplatform rules`)", file, line)
    if not spec.exemptable:
        raise InputError(
            f"{SETTINGS_KEY}.{what}: {spec.id} cannot be exempted, disabled or downgraded ({spec.not_exemptable})",
            file,
            line,
        )
    return spec


def parse_settings(value: Any, file: str, line: int) -> RuleSettings:
    """The `rules:` key of .mlplatform.yaml; a wrong entry is an InputError at its line."""
    if value is None:
        return RuleSettings()
    if not isinstance(value, dict):
        raise InputError(f"{SETTINGS_KEY}: expected a mapping with {', '.join(sorted(_KEYS))}", file, line)
    for key in value:
        if key not in _KEYS:
            raise InputError(f"{SETTINGS_KEY}.{key}: unknown key (known: {', '.join(sorted(_KEYS))})", file,
                             _line(value, key, line))
    disabled = value.get("disabled") or []
    at = _line(value, "disabled", line)
    if not isinstance(disabled, list):
        raise InputError(f"{SETTINGS_KEY}.disabled: expected a list of rule ids", file, at)
    for index, rule in enumerate(disabled):
        _known_rule(rule, file, _item_line(disabled, index, at), "disabled")
    severity_raw = value.get("severity") or {}
    at = _line(value, "severity", line)
    if not isinstance(severity_raw, dict):
        raise InputError(f"{SETTINGS_KEY}.severity: expected a mapping of rule id to error, warning or info",
                         file, at)
    severity: dict[str, Severity] = {}
    for rule, level in severity_raw.items():
        where = _line(severity_raw, rule, at)
        _known_rule(rule, file, where, "severity")
        if level not in {s.value for s in Severity}:
            raise InputError(f"{SETTINGS_KEY}.severity.{rule}: expected error, warning or info, got {level!r}",
                             file, where)
        severity[str(rule)] = Severity(level)
    entries = value.get("exemptions") or []
    at = _line(value, "exemptions", line)
    if not isinstance(entries, list):
        raise InputError(f"{SETTINGS_KEY}.exemptions: expected a list of entries (rule, file/object, reason)",
                         file, at)
    exemptions = [_exemption(entry, file, _item_line(entries, i, at)) for i, entry in enumerate(entries)]
    return RuleSettings(frozenset(str(r) for r in disabled), severity, tuple(exemptions))


def _item_line(items: Any, index: int, default: int) -> int:
    lines = getattr(items, "item_lines", None)
    return lines[index] if lines and index < len(lines) else default


def _exemption(entry: Any, file: str, line: int) -> FileExemption:
    if not isinstance(entry, dict):
        raise InputError(f"{SETTINGS_KEY}.exemptions: expected a mapping with rule, file and/or object, reason",
                         file, line)
    line = getattr(entry, "line", 0) or line
    for key in entry:
        if key not in _EXEMPTION_KEYS:
            raise InputError(f"{SETTINGS_KEY}.exemptions: unknown key {key!r} (known: "
                             f"{', '.join(sorted(_EXEMPTION_KEYS))})", file, _line(entry, key, line))
    spec = _known_rule(entry.get("rule"), file, _line(entry, "rule", line), "exemptions")
    reason = entry.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        # The same contract as annotations: an exemption without a reason does not exempt.
        raise InputError(f"{SETTINGS_KEY}.exemptions: {spec.id}: a reason is required", file, line)
    where = entry.get("file")
    obj = entry.get("object")
    if where is None and obj is None:
        raise InputError(f"{SETTINGS_KEY}.exemptions: {spec.id}: give file (a glob) and/or object", file, line)
    if where is not None and not isinstance(where, str):
        raise InputError(f"{SETTINGS_KEY}.exemptions: file: expected a glob string", file, line)
    if obj is not None and (not isinstance(obj, str) or obj.count("/") not in (1, 2)):
        raise InputError(f"{SETTINGS_KEY}.exemptions: object: expected Kind/name or Kind/namespace/name", file,
                         line)
    return FileExemption(spec.id, reason.strip(), where, obj, line)


# ---------------------------------------------------------------- object annotations


def annotation_index(manifests: Iterable[Manifest]) -> dict[ObjectRef, dict[str, str]]:
    """Object -> {exemption name: reason}, from the object's annotations and its pod templates' (a finding
    names the object, not the template, so an exemption on any template of it covers the object)."""
    index: dict[ObjectRef, dict[str, str]] = {}
    for manifest in manifests:
        found = exemption_annotations(manifest.annotations)
        if manifest.obj.get("kind") not in _NO_TEMPLATES:
            for tpl in pod_templates(manifest):
                for name, reason in exemption_annotations(tpl.pod_metadata.get("annotations")).items():
                    found.setdefault(name, reason)
        if found:
            index.setdefault(manifest.ref, {}).update(found)
    return index


# Kinds with no pod template, skipped for speed (most objects).
_NO_TEMPLATES = frozenset({"ConfigMap", "Secret", "Service", "Namespace", "ServiceAccount", "Role", "RoleBinding",
                           "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"})


def exemption_annotations(annotations: Any) -> dict[str, str]:
    if not isinstance(annotations, dict):
        return {}
    prefix = rulecatalog.EXEMPT_PREFIX
    return {
        k[len(prefix):]: ("" if v is None else str(v))
        for k, v in annotations.items()
        if isinstance(k, str) and k.startswith(prefix)
    }


def mark_annotated(findings: Iterable[Finding], manifests: Iterable[Manifest]) -> None:
    """Mark the findings on objects that carry an exemption (with a reason) for their rule."""
    todo = [f for f in findings if f.object is not None and f.suppression is None]
    if not todo:
        return
    index = annotation_index(manifests)
    if not index:
        return
    for f in todo:
        table = index.get(f.object)  # type: ignore[arg-type]
        spec = rulecatalog.spec(f.rule)
        if not table or spec is None or not spec.exemptable:
            continue
        reason = table.get(spec.name)
        if reason and reason.strip():
            f.suppression = Suppression("inSource", reason.strip(), f"{spec.annotation} on {f.object}")


# ---------------------------------------------------------------- the run's settings


UNUSED_RULE = "config/exemption-unused"


def apply(
    findings: Iterable[Finding], settings: RuleSettings | None, *, report_unused: bool = False
) -> tuple[list[Finding], list[Finding]]:
    """(active, suppressed): disabled rules dropped, severities overridden, .mlplatform.yaml exemptions marked.

    `report_unused` (a full check of every cluster): an exemption entry that matched no finding is a warning at
    its line. A misspelt path or object in the entry would otherwise be accepted in silence, and an entry for
    a fault fixed long ago would wait to hide the next one."""
    settings = settings or RuleSettings()
    active: list[Finding] = []
    suppressed: list[Finding] = []
    used: set[int] = set()
    for f in findings:
        if f.rule in settings.disabled:
            continue
        override = settings.severity.get(f.rule)
        if override is not None:
            f.severity = override
        if f.suppression is None:
            index = next((i for i, e in enumerate(settings.exemptions) if e.matches(f)), None)
            if index is not None:
                entry = settings.exemptions[index]
                used.add(index)
                f.suppression = Suppression("external", entry.reason, f".mlplatform.yaml line {entry.line}")
        (suppressed if f.suppression is not None else active).append(f)
    if report_unused:
        for index, entry in enumerate(settings.exemptions):
            if index not in used:
                scope = " and ".join(f"{k} {v!r}" for k, v in (("file", entry.file), ("object", entry.object)) if v)
                active.append(Finding(
                    rule=UNUSED_RULE, severity=Severity.WARNING, file=".mlplatform.yaml", line=entry.line,
                    message=f"the exemption of {entry.rule} for {scope} matched no finding: correct the pattern "
                    "(pool files are terraform/environments/<cluster>/node-pools.yaml) or remove the entry"))
    return active, suppressed
