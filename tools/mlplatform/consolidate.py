"""One finding per mistake: drop findings that only repeat a cause, and merge the clusters of a shared file.

Every cluster renders the shared bases (apps/base, infrastructure/*/base) again, so one mistake there is found
once per cluster. A person fixes it once, at one file and line: such findings become one, listing the
clusters (`Finding.clusters`; `cluster` keeps the first, as before).

Some findings are consequences of another one and say nothing new: a pod template that fits no pool is also
"unplaced" by the capacity fit; a Flux Kustomization whose source or path does not exist is not rendered, so
everything that looks for its objects (CRDs, GPU-sharing ConfigMaps, PriorityClasses) misses them. The
consequences are dropped, and the cause says how many it stands for.
"""

from __future__ import annotations

from collections.abc import Iterable

from .model import Finding, ObjectRef, Severity

# consequence rule -> rules whose error on the same cluster and object already explains it
CONSEQUENCES: dict[str, frozenset[str]] = {
    "capacity/unplaced": frozenset({"policy/fits-no-pool", "policy/mig-profile-not-offered"}),
}


# A Flux Kustomization with one of these errors is not rendered: the cluster's objects are incomplete.
UNRENDERED_CAUSES = frozenset({"flux/source-missing", "flux/path-missing", "flux/path-outside-repository"})
# Findings that report something missing from the rendered objects: unreliable while objects are missing.
ABSENCE_RULES = frozenset({
    "flux/crd-not-installed-first",
    "policy/sharing-config-drift",
    "policy/priority-class-exists",
    "policy/gpu-daemonset-coverage",
})


# (cluster, file, object): the findings about one object
_ObjectKey = tuple[str | None, str | None, ObjectRef | None]


def _object_key(f: Finding) -> _ObjectKey:
    return (f.cluster, f.file, f.object)


def drop_consequences(findings: Iterable[Finding]) -> list[Finding]:
    """The findings without those a cause on the same cluster and object already explains."""
    findings = list(findings)
    causes: dict[_ObjectKey, set[str]] = {}
    for f in findings:
        if f.severity is Severity.ERROR and f.object is not None:
            causes.setdefault(_object_key(f), set()).add(f.rule)
    kept = []
    for f in findings:
        explained_by = CONSEQUENCES.get(f.rule)
        if explained_by and f.object is not None and explained_by & causes.get(_object_key(f), set()):
            continue
        kept.append(f)
    return kept


def fold_into_unrendered(findings: Iterable[Finding]) -> list[Finding]:
    """In a cluster where a Flux Kustomization could not be rendered, findings about missing objects are left
    out; the first such cause counts them."""
    findings = list(findings)
    causes: dict[str, Finding] = {}
    for f in findings:
        if f.rule in UNRENDERED_CAUSES and f.severity is Severity.ERROR and f.cluster:
            causes.setdefault(f.cluster, f)
    if not causes:
        return findings
    kept, folded = [], dict.fromkeys(causes, 0)
    for f in findings:
        if f.rule in ABSENCE_RULES and f.cluster in causes:
            folded[f.cluster] += 1
            continue
        kept.append(f)
    for cluster, count in folded.items():
        if count:
            causes[cluster].message += (
                f" ({count} more finding(s) about objects missing from this cluster are left out: they follow "
                "from this one; run check again after fixing it)"
            )
    return kept


def merge_clusters(findings: Iterable[Finding]) -> list[Finding]:
    """Findings equal but for their cluster (same rule, severity, message, file, line, object) become one."""
    merged: dict[tuple[str, Severity, str, str, int | None, ObjectRef | None], Finding] = {}
    out: list[Finding] = []
    for f in findings:
        if not f.cluster or not f.file:
            out.append(f)
            continue
        key = (f.rule, f.severity, f.message, f.file, f.line, f.object)
        first = merged.get(key)
        if first is None:
            merged[key] = f
            out.append(f)
            continue
        clusters = sorted(set(first.all_clusters) | set(f.all_clusters))
        first.clusters = tuple(clusters)
        first.cluster = clusters[0]
    return out


def consolidate(findings: Iterable[Finding]) -> list[Finding]:
    return merge_clusters(fold_into_unrendered(drop_consequences(findings)))
