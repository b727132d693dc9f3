"""`mlplatform diff --base REF`: what Flux would apply differently, and how the capacity plan changes.

Each cluster is rendered at the base ref (a temporary `git worktree`, removed afterwards) and in the working
tree, both by this checkout's code, so a change to the tools cannot make the base render differently. Objects
are matched by cluster, API group, kind, namespace and name (an API version bump is one changed object), and
each change is a unified diff of the object's YAML with keys sorted. Secret values are replaced by a short
hash: a rotation shows, the value never reaches a pull-request comment. A cluster that does not render on
either side is a ToolError (exit 2): a diff of what did render would claim "nothing changed".
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config import Config, load_config
from .errors import ToolError, unknown_clusters
from .model import Finding, Manifest, Severity
from .yamlio import mapping

MAX_MARKDOWN_CHARS = 60_000  # GitHub rejects comments over 65,536 characters
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# Rendering errors after which objects are missing from the output (the others, such as a dependsOn cycle,
# are about the graph and leave every object rendered).
_OBJECTS_MISSING = ("render/", "flux/path-", "flux/source-missing", "flux/substitute-", "flux/discovery-")

Key = tuple[str, str, str, str, str]  # cluster, API group, kind, namespace, name
Renderer = Callable[[Path, Config, str], tuple[list[Manifest], list[Finding]]]


@dataclass
class ObjectDiff:
    key: Key
    change: str  # added | removed | changed
    lines: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        cluster, group, kind, namespace, name = self.key
        return {"cluster": cluster, "group": group, "kind": kind, "namespace": namespace or None, "name": name,
                "change": self.change, "diff": self.lines}


def api_group(api_version: str) -> str:
    # The group identifies the object; a version bump (v1beta1 -> v1) shows as a change, not remove + add.
    return api_version.rsplit("/", 1)[0] if "/" in api_version else "core"


def object_key(cluster: str, obj: dict[str, Any]) -> Key:
    meta = mapping(obj.get("metadata"))
    return (cluster, api_group(str(obj.get("apiVersion", ""))), str(obj.get("kind", "")),
            str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def redact_secrets(obj: dict[str, Any]) -> dict[str, Any]:
    """Each Secret value replaced by a hash prefix, so a diff shows a change without the value."""
    if obj.get("kind") != "Secret" or obj.get("apiVersion") != "v1":
        return obj
    redacted = dict(obj)
    for section in ("data", "stringData"):
        values = obj.get(section)
        if isinstance(values, dict):
            redacted[section] = {
                key: f"<redacted sha256:{hashlib.sha256(str(value).encode()).hexdigest()[:12]}>"
                for key, value in values.items()
            }
    return redacted


def _default_renderer(repo: Path, config: Config, cluster: str) -> tuple[list[Manifest], list[Finding]]:
    from .cluster_render import render_cluster_manifests

    return render_cluster_manifests(repo, config, cluster)


def render_objects(repo: Path, config: Config, clusters: list[str], label: str,
                   renderer: Renderer | None = None) -> tuple[dict[Key, dict[str, Any]], dict[str, list[Manifest]]]:
    """Every object of the clusters that exist in `repo`; a cluster that does not render fully is exit 2."""
    renderer = renderer or _default_renderer
    objects: dict[Key, dict[str, Any]] = {}
    manifests: dict[str, list[Manifest]] = {}
    present = set(config.clusters())
    for cluster in clusters:
        if cluster not in present:
            continue  # the cluster does not exist on this side: all its objects are added or removed
        try:
            rendered, findings = renderer(repo, config, cluster)
        except ToolError as exc:
            raise ToolError(f"cannot render cluster {cluster} at {label}: {exc}") from None
        broken = [f for f in findings if f.severity is Severity.ERROR and f.rule.startswith(_OBJECTS_MISSING)]
        if broken:
            first = broken[0]
            where = f"{first.file}:{first.line}" if first.line else (first.file or "")
            raise ToolError(f"cannot render cluster {cluster} at {label}: {where}: {first.message}"
                            + (f" (and {len(broken) - 1} more; run `mlplatform check`)" if len(broken) > 1 else ""))
        manifests[cluster] = rendered
        for manifest in rendered:
            objects[object_key(cluster, manifest.obj)] = redact_secrets(manifest.obj)
    return objects, manifests


def dump(obj: dict[str, Any]) -> list[str]:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=True, default_flow_style=False).splitlines()


def compare(base: dict[Key, dict[str, Any]], head: dict[Key, dict[str, Any]], base_label: str,
            head_label: str = "working tree") -> list[ObjectDiff]:
    """Added, removed and changed objects, sorted by key."""
    diffs: list[ObjectDiff] = []
    for key in sorted(set(base) | set(head)):
        before, after = base.get(key), head.get(key)
        if before == after:
            continue
        change = "added" if before is None else "removed" if after is None else "changed"
        lines = list(difflib.unified_diff(dump(before) if before else [], dump(after) if after else [],
                                          fromfile=base_label, tofile=head_label, lineterm="", n=3))
        diffs.append(ObjectDiff(key, change, lines))
    return diffs


def describe(key: Key) -> str:
    cluster, group, kind, namespace, name = key
    where = f"{namespace}/{name}" if namespace else name
    return f"{cluster}: {kind}.{group} {where}" if group != "core" else f"{cluster}: {kind} {where}"


def summary(diffs: list[ObjectDiff]) -> str:
    counts = {kind: sum(1 for d in diffs if d.change == kind) for kind in ("changed", "added", "removed")}
    return ", ".join(f"{n} {kind}" for kind, n in counts.items())


@dataclass
class DiffReport:
    ref: str
    commit: str
    objects: list[ObjectDiff]
    plan: list[dict[str, Any]] | None  # capacity.diff.diff_plans output; None when not computed

    def to_json(self) -> dict[str, Any]:
        return {"base": {"ref": self.ref, "commit": self.commit}, "summary": summary(self.objects),
                "objects": [d.to_json() for d in self.objects], "plan": self.plan}


def build_report(config: Config, ref: str, clusters: list[str], *, with_plan: bool = True,
                 time_limit_s: float | None = None, renderer: Renderer | None = None) -> DiffReport:
    """Render (and plan) both sides; the base in a temporary worktree of `ref`."""
    from .capacity.diff import base_worktree, diff_plans
    from .render import find_kustomize

    # The same kustomize on both sides (the worktree has no .tools/ of its own); found before git runs.
    kustomize = config.kustomize or find_kustomize(config.repo, config).path
    with base_worktree(config.repo, ref) as tree:
        base_config = load_config(tree.repo, kustomize=kustomize)
        known = sorted(set(config.clusters()) | set(base_config.clusters()))
        # A cluster on one side only is added or removed; one on neither side is a typo, not "no change".
        unknown = [c for c in clusters if c not in known]
        if unknown:
            raise unknown_clusters(unknown, known)
        wanted = clusters or known
        base_objects, base_manifests = render_objects(tree.repo, base_config, wanted, ref, renderer)
        base_plans = _plans(base_config, base_manifests, time_limit_s) if with_plan else None
    head_objects, head_manifests = render_objects(config.repo, config, wanted, "the working tree", renderer)
    objects = compare(base_objects, head_objects, f"{ref} ({tree.commit[:12]})")
    plan = None
    if with_plan:
        plan = diff_plans(base_plans or [], _plans(config, head_manifests, time_limit_s))
    return DiffReport(ref, tree.commit, objects, plan)


def _plans(config: Config, manifests: dict[str, list[Manifest]], time_limit_s: float | None) -> list[dict[str, Any]]:
    """Capacity plans of the clusters that have a pool file, from the objects already rendered."""
    from .capacity.plan import DEFAULT_TIME_LIMIT_S
    from .capacity.runner import plan_repo
    from .pools import pool_file_path

    names = [c for c in manifests if pool_file_path(config.repo, c).is_file()]
    if not names:
        return []
    plans = plan_repo(config, names, renderer=lambda _repo, _config, cluster: (manifests[cluster], []),
                      time_limit_s=time_limit_s or DEFAULT_TIME_LIMIT_S)
    return [p.to_json() for p in plans]


# ---------------------------------------------------------------- output


def format_text(report: DiffReport) -> str:
    from .capacity.output import diff_text

    out = [f"Rendered objects {report.ref} ({report.commit[:12]}) -> working tree: {summary(report.objects)}"]
    for item in report.objects:
        out.append(f"\n=== {item.change}: {describe(item.key)}")
        out += item.lines
    text = "\n".join(out) + "\n"
    if report.plan is not None:
        text += "\n" + diff_text(report.ref, report.commit, report.plan)
    return text


def format_markdown(report: DiffReport) -> str:
    from .capacity.output import diff_text

    header = [f"### Rendered manifests: `{report.ref}` → working tree", "",
              f"What Flux would apply differently: **{summary(report.objects)}**.", ""]
    if not report.objects:
        header.append("No rendered object changes.")
    plan = ("\n" + diff_text(report.ref, report.commit, report.plan, markdown=True)) if report.plan is not None else ""
    body: list[str] = []
    used = sum(len(line) + 1 for line in header) + len(plan)
    for index, item in enumerate(report.objects):
        sign = {"added": "+", "removed": "-", "changed": "~"}[item.change]
        block = "\n".join([f"<details><summary>{sign} {describe(item.key)} ({item.change})</summary>", "",
                           "```diff", *item.lines, "```", "</details>", ""])
        if used + len(block) > MAX_MARKDOWN_CHARS:
            body.append(f"… {len(report.objects) - index} more objects not shown (comment size limit); "
                        "run `mlplatform diff --base <ref>` locally for the full diff.")
            break
        body.append(block)
        used += len(block) + 1
    return "\n".join(header + [""] + body) + "\n" + plan
