#!/usr/bin/env python3
"""Diff of what Flux would apply: each cluster rendered at a base ref and at HEAD, changed objects only.

Usage (CI runs the second form on pull requests):
    python scripts/render_diff.py --base origin/main                     # text, for a terminal
    python scripts/render_diff.py --base origin/main --format markdown   # for a PR comment

The base ref is checked out with `git worktree add --detach` into a temporary directory (removed again
afterwards); HEAD is the working tree as it is. Both sides are rendered by *this* checkout's
`mlplatform render`, so a change to the tools cannot make the base render differently. Secret values are
replaced by a short hash: a change still shows, the value never reaches a pull-request comment.
Exit codes: 0 report written (a render that failed is reported inside it), 2 git or usage error.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

MAX_MARKDOWN_CHARS = 60_000  # GitHub rejects comments over 65,536 characters
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

Key = tuple[str, str, str, str, str]  # cluster, API group, kind, namespace, name


class DiffError(Exception):
    """A git or usage problem: the report cannot be made at all."""


@dataclass
class Side:
    """One side of the comparison: the objects of each cluster, or why a cluster did not render."""

    label: str
    objects: dict[Key, dict] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class ObjectDiff:
    key: Key
    change: str  # added | removed | changed
    diff: list[str]


def api_group(api_version: str) -> str:
    # The group identifies the object; a version bump (v1beta1 -> v1) shows as a change, not remove + add.
    return api_version.rsplit("/", 1)[0] if "/" in api_version else "core"


def object_key(cluster: str, obj: dict) -> Key:
    meta = obj.get("metadata") or {}
    return (cluster, api_group(str(obj.get("apiVersion", ""))), str(obj.get("kind", "")),
            str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def redact_secrets(obj: dict) -> dict:
    """Replace each Secret value by a hash prefix, so a diff shows a change without the value."""
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


def parse_rendered(cluster: str, text: str) -> dict[Key, dict]:
    objects: dict[Key, dict] = {}
    for document in yaml.load_all(text, Loader=_Loader):
        if isinstance(document, dict) and document.get("kind"):
            objects[object_key(cluster, document)] = redact_secrets(document)
    return objects


def clusters_in(root: Path) -> set[str]:
    base = root / "clusters"
    return {p.name for p in base.iterdir() if p.is_dir()} if base.is_dir() else set()


def default_mlplatform() -> str:
    beside = Path(sys.executable).parent / "mlplatform"
    return str(beside) if beside.exists() else (shutil.which("mlplatform") or "mlplatform")


def render_side(label: str, root: Path, clusters: list[str], mlplatform: str, timeout: float) -> Side:
    side = Side(label)
    present = clusters_in(root)
    for cluster in clusters:
        if cluster not in present:
            continue  # the cluster does not exist on this side: all its objects are added or removed
        try:
            result = subprocess.run([mlplatform, "render", "--repo", str(root), "--cluster", cluster],
                                    cwd=root, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            side.errors[cluster] = f"could not run {mlplatform} render: {exc}"
            continue
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines() or [f"exit code {result.returncode}"]
            side.errors[cluster] = lines[-1]
            continue
        try:
            side.objects.update(parse_rendered(cluster, result.stdout))
        except yaml.YAMLError as exc:
            side.errors[cluster] = f"render output is not YAML: {exc}"
    return side


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise DiffError(f"git {' '.join(args)}: {result.stderr.strip() or result.returncode}")
    return result.stdout.strip()


@contextmanager
def worktree(repo: Path, ref: str) -> Iterator[Path]:
    """A detached checkout of `ref` in a temporary directory (it holds its own CRD schemas)."""
    commit = git(repo, "rev-parse", "--verify", f"{ref}^{{commit}}")
    with tempfile.TemporaryDirectory(prefix="render-diff-") as tmp:
        path = Path(tmp) / repo.name
        git(repo, "worktree", "add", "--detach", "--quiet", str(path), commit)
        try:
            yield path
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(path)],
                           capture_output=True)
            subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True)


def dump(obj: dict) -> list[str]:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=True, default_flow_style=False).splitlines()


def describe(key: Key) -> str:
    cluster, group, kind, namespace, name = key
    where = f"{namespace}/{name}" if namespace else name
    return f"{cluster}: {kind}.{group} {where}" if group != "core" else f"{cluster}: {kind} {where}"


def compare(base: Side, head: Side) -> list[ObjectDiff]:
    """Added, removed and changed objects, sorted; clusters that failed to render on a side are skipped."""
    failed = set(base.errors) | set(head.errors)
    diffs: list[ObjectDiff] = []
    for key in sorted(set(base.objects) | set(head.objects)):
        if key[0] in failed:
            continue
        before, after = base.objects.get(key), head.objects.get(key)
        if before == after:
            continue
        change = "added" if before is None else "removed" if after is None else "changed"
        lines = list(difflib.unified_diff(dump(before) if before else [], dump(after) if after else [],
                                          fromfile=f"{base.label}", tofile=f"{head.label}", lineterm="", n=3))
        diffs.append(ObjectDiff(key, change, lines))
    return diffs


def summary(diffs: list[ObjectDiff]) -> str:
    counts = {kind: sum(1 for d in diffs if d.change == kind) for kind in ("changed", "added", "removed")}
    return ", ".join(f"{n} {kind}" for kind, n in counts.items())


def format_text(base: Side, head: Side, diffs: list[ObjectDiff]) -> str:
    out = [f"Rendered objects {base.label} -> {head.label}: {summary(diffs)}"]
    for side in (base, head):
        out += [f"! {cluster} did not render at {side.label}: {error}"
                for cluster, error in side.errors.items()]
    for item in diffs:
        out.append(f"\n=== {item.change}: {describe(item.key)}")
        out += item.diff
    return "\n".join(out) + "\n"


def format_markdown(base: Side, head: Side, diffs: list[ObjectDiff]) -> str:
    header = [f"### Rendered manifests: `{base.label}` → `{head.label}`", "",
              f"What Flux would apply differently: **{summary(diffs)}**.", ""]
    for side in (base, head):
        header += [f"> :warning: `{cluster}` did not render at `{side.label}`: `{error}`"
                   for cluster, error in side.errors.items()]
    if not diffs:
        header.append("No rendered object changes.")
    body: list[str] = []
    used = sum(len(line) + 1 for line in header)
    for index, item in enumerate(diffs):
        sign = {"added": "+", "removed": "-", "changed": "~"}[item.change]
        block = "\n".join([f"<details><summary>{sign} {describe(item.key)} ({item.change})</summary>", "",
                           "```diff", *item.diff, "```", "</details>", ""])
        if used + len(block) > MAX_MARKDOWN_CHARS:
            body.append(f"… {len(diffs) - index} more objects not shown (comment size limit); "
                        "run `python scripts/render_diff.py --base <ref>` locally for the full diff.")
            break
        body.append(block)
        used += len(block) + 1
    return "\n".join(header + [""] + body) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git ref to compare against (e.g. origin/main)")
    parser.add_argument("--repo", type=Path, default=Path("."), help="repository root (default: .)")
    parser.add_argument("--cluster", action="append", default=[], help="cluster (repeatable; default: all)")
    parser.add_argument("--format", choices=("text", "markdown"), default="text")
    parser.add_argument("--mlplatform", default=default_mlplatform(), help="the mlplatform executable")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per cluster render")
    args = parser.parse_args(argv)
    try:
        repo = Path(git(args.repo, "rev-parse", "--show-toplevel"))
        with worktree(repo, args.base) as base_root:
            clusters = args.cluster or sorted(clusters_in(base_root) | clusters_in(repo))
            base = render_side(args.base, base_root, clusters, args.mlplatform, args.timeout)
        head = render_side("HEAD", repo, clusters, args.mlplatform, args.timeout)
    except DiffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    diffs = compare(base, head)
    formatter = format_markdown if args.format == "markdown" else format_text
    sys.stdout.write(formatter(base, head, diffs))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MLPLATFORM_NO_PROGRESS", "1")  # stderr of the renders is parsed for errors
    sys.exit(main())
