"""One finding per mistake: drop findings that only repeat a cause, and merge the clusters of a shared file.

Every cluster renders the shared bases (apps/base, infrastructure/*/base) again, so one mistake there is found
once per cluster. A person fixes it once, at one file and line: such findings become one, listing the
clusters (`Finding.clusters`; `cluster` keeps the first, as before).

Some findings are consequences of another one and say nothing new: a pod template that fits no pool is also
"unplaced" by the capacity fit; a Flux Kustomization whose source or path does not exist is not rendered, so
everything that looks for its objects (CRDs, GPU-sharing ConfigMaps, PriorityClasses) misses them. A finding
that knows its cause is reported elsewhere names it (`Finding.follows`): a kustomization that cannot use a file
whose YAML is broken, a pod template the rules and the capacity fit cannot read because it fails its schema.
The consequences are dropped, and the cause says how many it stands for.
"""

from __future__ import annotations

from collections.abc import Iterable

from .model import Cause, Finding, ObjectRef, Severity

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


# how many folded consequences a cause lists by place; the count says how many there are in all
MAX_LISTED_CONSEQUENCES = 3


def _find_cause(follows: Cause, cluster: str | None, by_file: dict[str, list[Finding]]) -> Finding | None:
    for c in by_file.get(follows.file, []):
        # a cause without a cluster (a file's YAML) explains every cluster; one with a cluster, only its own
        if follows.reported_by(c) and (c.cluster is None or cluster is None or c.cluster == cluster):
            return c
    return None


def _consequences_note(cause: Finding, folded: list[Finding]) -> str:
    """`(N more finding(s) follow from it ...)`: the folded findings by rule and place, as merge_clusters would
    show them. A cause of one cluster keeps a message without cluster names, so that it still merges."""
    places: dict[tuple[str, str | None, int | None, ObjectRef | None], set[str]] = {}
    for f in folded:
        places.setdefault((f.rule, f.file, f.line, f.object), set()).update(f.all_clusters)
    listed = []
    for (rule, file, line, obj), clusters in list(places.items())[:MAX_LISTED_CONSEQUENCES]:
        where = "on this object" if obj is not None and obj == cause.object and file == cause.file else (
            f"at {file}:{line}" if file and line else f"at {file}" if file else "")
        if obj is not None and obj != cause.object:
            where += f" ({obj.kind} {obj.namespace + '/' if obj.namespace else ''}{obj.name})"
        if cause.cluster is None and clusters:
            where += f" [{', '.join(sorted(clusters))}]"
        listed.append(f"{rule} {where}".strip())
    more = len(places) - len(listed)
    return (
        f" ({len(places)} more finding(s) follow from it and are left out: {'; '.join(listed)}"
        + (f"; and {more} more" if more > 0 else "")
        + "; run check again after fixing it)"
    )


def fold_into_causes(findings: Iterable[Finding]) -> list[Finding]:
    """Findings that name their cause (`follows`) are left out when an error reports that cause; the cause
    says what it stands for. One whose cause nobody reports stays: it is then the only report of the mistake."""
    findings = list(findings)
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        if f.follows is None and f.file is not None and f.severity is Severity.ERROR:
            by_file.setdefault(f.file, []).append(f)
    kept: list[Finding] = []
    folded: dict[int, tuple[Finding, list[Finding]]] = {}
    for f in findings:
        cause = _find_cause(f.follows, f.cluster, by_file) if f.follows is not None else None
        if cause is None:
            kept.append(f)
        else:
            folded.setdefault(id(cause), (cause, []))[1].append(f)
    for cause, consequences in folded.values():
        cause.message += _consequences_note(cause, consequences)
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
    return merge_clusters(fold_into_unrendered(drop_consequences(fold_into_causes(findings))))
