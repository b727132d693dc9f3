"""Exemption annotations must give a reason and name a rule that exists."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model import Finding, Manifest, Severity
from ..rulecatalog import EXEMPT_PREFIX
from ..suggest import did_you_mean
from ._base import RuleContext, _exemption_annotations, pointer

ID = "policy/exemption-reason"
TITLE = "Exemption without a reason or for an unknown rule"
SEVERITY = Severity.ERROR
FIXABLE = False
RATIONALE = (
    'An exemption (annotation mlplatform.example.com/exempt-<name>: "<reason>" on the object or its pod '
    "template, <name> being the rule id after its category) switches a rule off for one object; the reason "
    "is what a reviewer judges. An empty reason does not exempt and is an error; an exemption naming no "
    "known rule, or a rule that cannot be exempted, is an error too (a typo would silently exempt nothing)."
)
REMEDIATION = "Give the exemption a reason a reviewer can judge, or fix the rule name (`mlplatform rules`)."


def check(ctx: RuleContext, known: set[str] | None = None) -> Iterator[Finding]:
    from .. import rulecatalog  # the catalog collects this module; import late to avoid the cycle

    # Annotation keys name a rule by the part of its id after the category (one '/' per key).
    specs = {s.name: s for s in rulecatalog.specs().values()}
    known = known or {name for name, s in specs.items() if s.exemptable}
    # Only objects with an exemption annotation somewhere matter; most have none.
    # Each table rides with a pointer to the metadata holding it, so a finding names the annotation's line.
    tables_of: dict[int, tuple[Manifest, list[tuple[dict[str, Any], str]]]] = {}
    for manifest in ctx.manifests:
        table = manifest.annotations
        if table and any(isinstance(k, str) and k.startswith(EXEMPT_PREFIX) for k in table):
            tables_of[id(manifest)] = (manifest, [(table, "/metadata")])
    for info in ctx.templates:
        pod_table = info.tpl.pod_metadata.get("annotations")
        if pod_table and any(isinstance(k, str) and k.startswith(EXEMPT_PREFIX) for k in pod_table):
            tables_of.setdefault(id(info.manifest), (info.manifest, []))[1].append(
                (pod_table, info.tpl.metadata_pointer))
    for manifest, tables in tables_of.values():
        seen: set[str] = set()
        for table, metadata in tables:
            for rule_id, reason in _exemption_annotations(table).items():
                if rule_id in seen:
                    continue
                seen.add(rule_id)
                if rule_id in specs and rule_id not in known:
                    message = (
                        f"{EXEMPT_PREFIX}{rule_id}: {specs[rule_id].id} cannot be exempted "
                        f"({specs[rule_id].not_exemptable})"
                    )
                elif rule_id not in known:
                    message = (
                        f"{EXEMPT_PREFIX}{rule_id} names no known rule (see `mlplatform rules`)"
                        f"{did_you_mean(rule_id, known)}"
                    )
                elif not reason.strip():
                    message = f"{EXEMPT_PREFIX}{rule_id} has no reason; the exemption is ignored until it has one"
                else:
                    continue
                at = metadata + pointer("annotations", EXEMPT_PREFIX + rule_id)
                if found := ctx.emit(ID, SEVERITY, manifest, message, at=at):
                    yield found
