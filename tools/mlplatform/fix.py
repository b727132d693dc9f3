"""Apply the rules' JSON Patch fixes to the source files, keeping comments, order and quoting (ruamel.yaml).

Only the document a finding points at is re-serialised; every other byte of the file stays as it was. A file
is written atomically (temporary file in the same directory, then os.replace) and only when every patch for
it applied; a file that does not parse is refused and left alone.
"""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonpatch
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import ScalarString

from .atomic import write_text_atomically
from .config import Config
from .contain import safe_resolve
from .model import Finding, Severity

# A line that starts a new YAML document ("---", optionally followed by a comment or content).
_DOC_START = re.compile(r"^---(?:[ \t].*)?$")
_LINES = re.compile(r"[^\n]*\n|[^\n]+\Z")


@dataclass
class FixResult:
    applied: list[Finding] = field(default_factory=list)
    skipped: list[tuple[Finding, str]] = field(default_factory=list)  # (finding, why)
    changed_files: dict[str, str] = field(default_factory=dict)  # file -> unified diff (dry run) or ""


@dataclass
class _Chunk:
    """One YAML document of a file: its text and the 1-based line it starts on."""

    text: str
    first_line: int


def split_chunks(text: str) -> list[_Chunk]:
    """The file cut at document separators; joining the texts gives the file back exactly."""
    chunks: list[_Chunk] = []
    current: list[str] = []
    start = 1
    # Lines end at "\n" only (as the YAML loader counts them): str.splitlines would also cut at form feeds
    # and U+2028 inside values and shift every line number after them.
    for number, line in enumerate(_LINES.findall(text), start=1):
        if _DOC_START.match(line.rstrip("\r\n")) and current:
            chunks.append(_Chunk("".join(current), start))
            current, start = [], number
        current.append(line)
    chunks.append(_Chunk("".join(current), start))
    return chunks


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    yaml.indent(mapping=2, sequence=4, offset=2)  # the repository's style: "- " indented under its key
    return yaml


def _chunk_for(chunks: list[_Chunk], line: int | None) -> int:
    """Index of the chunk holding `line` (the finding's provenance)."""
    index = 0
    for i, chunk in enumerate(chunks):
        if line is not None and chunk.first_line <= line:
            index = i
    return index


def _matches(doc: Any, finding: Finding) -> bool:
    if not isinstance(doc, dict) or finding.object is None:
        return False
    return doc.get("kind") == finding.object.kind


def _separator(chunk: str) -> tuple[str, str]:
    """(the chunk's own `---` line or "", the document text after it): the separator is kept verbatim."""
    first, _, rest = chunk.partition("\n")
    if _DOC_START.match(first.rstrip("\r")):
        return first + "\n", rest
    return "", chunk


def _dump(yaml: YAML, doc: Any, original: str) -> str:
    """Serialise one document after its original separator line (ruamel keeps the comments inside it).

    ruamel writes LF and always a final newline; the document keeps what it had: CRLF when its original
    used CRLF, and no final newline when it had none (the last document of a file without one)."""
    stream = io.StringIO()
    yaml.dump(doc, stream)
    body = stream.getvalue()
    if "\r\n" in original:
        body = body.replace("\r\n", "\n").replace("\n", "\r\n")
    if not original.endswith("\n"):
        body = body.removesuffix("\n").removesuffix("\r")
    return _separator(original)[0] + body


BOM = "\ufeff"


def read_exact(path: Path) -> str:
    """The file's text with every byte accounted for: no newline translation (CRLF stays CRLF), the BOM
    kept as its character, so writing the text back as UTF-8 gives the same bytes."""
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def _keep_quoting(doc: Any, patch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A replaced string keeps the quoting style of the string it replaces ('x' stays single-quoted)."""
    kept = []
    for op in patch:
        if op.get("op") == "replace" and isinstance(op.get("value"), str):
            try:
                old = jsonpatch.JsonPointer(op["path"]).resolve(doc)
            except (jsonpatch.JsonPointerException, KeyError, IndexError, TypeError):
                old = None
            if isinstance(old, ScalarString) and type(old) is not str:
                op = {**op, "value": type(old)(op["value"])}
        kept.append(op)
    return kept


def _flow_items(node: Any) -> bool:
    """Whether a list's mappings are written in flow style (`- {key: gpu, operator: Equal}`)."""
    return isinstance(node, CommentedSeq) and any(
        isinstance(item, CommentedMap) and item.fa.flow_style() for item in node)


def _as_flow(value: Any) -> Any:
    if isinstance(value, dict):
        flow = CommentedMap(value)
        flow.fa.set_flow_style()
        return flow
    return value


def _keep_flow_style(doc: Any, patch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mappings added to (or replacing) a list whose mappings are written in flow style are written so too: a
    toleration list of one-line items got a four-line item in the middle."""
    kept = []
    for op in patch:
        value, path = op.get("value"), str(op.get("path", ""))
        if op.get("op") in ("add", "replace") and isinstance(value, (dict, list)):
            parent_path, _, last = path.rpartition("/")
            try:
                parent = jsonpatch.JsonPointer(parent_path).resolve(doc) if parent_path else doc
                old = parent[int(last)] if isinstance(parent, list) and last.isdigit() else (
                    parent.get(last) if isinstance(parent, dict) else None)
            except (jsonpatch.JsonPointerException, KeyError, IndexError, TypeError, ValueError):
                parent, old = None, None
            if isinstance(value, dict) and _flow_items(parent):  # one item into a list
                op = {**op, "value": _as_flow(value)}
            elif isinstance(value, list) and _flow_items(old):  # a whole list for a list
                op = {**op, "value": [_as_flow(item) for item in value]}
        kept.append(op)
    return kept


Skipped = list[tuple[Finding, str]]


def fix_file(path: Path, findings: list[Finding]) -> tuple[str | None, list[Finding], Skipped]:
    """The new text of `path` with the findings' patches applied (None when nothing changed)."""
    applied: list[Finding] = []
    skipped: Skipped = []
    try:
        text = read_exact(path)
    except (OSError, UnicodeDecodeError) as exc:
        return None, [], [(f, f"cannot read {path}: {exc}") for f in findings]
    yaml = _yaml()
    # The BOM is set aside so the first document parses and re-serialises like any other; put back below.
    bom = BOM if text.startswith(BOM) else ""
    chunks = split_chunks(text[len(bom):])
    docs: dict[int, Any] = {}
    touched: set[int] = set()
    for finding in findings:
        index = _chunk_for(chunks, finding.line)
        if index not in docs:
            try:
                docs[index] = yaml.load(_separator(chunks[index].text)[1])
            except YAMLError as exc:
                skipped.append((finding, f"refused: {path.name} does not parse ({str(exc).splitlines()[0]})"))
                docs[index] = None
                continue
        doc = docs[index]
        if doc is None:
            skipped.append((finding, f"refused: {path.name} does not parse"))
            continue
        if not _matches(doc, finding):
            where = chunks[index].first_line
            skipped.append((finding, f"the document at line {where} is not the {finding.object} (kustomize builds "
                                     "it from other files); make the change by hand"))
            continue
        patch = _keep_flow_style(doc, _keep_quoting(doc, finding.fix or []))
        trial = copy.deepcopy(doc)
        try:
            jsonpatch.apply_patch(trial, patch, in_place=True)
        except (
            jsonpatch.JsonPatchException,
            jsonpatch.JsonPointerException,
            KeyError,
            IndexError,
            TypeError,
        ):
            # The library's text names Python types; what it means for a person is that the source differs.
            skipped.append((finding, "the source document differs from the object Flux applies (an overlay, a "
                                     "patch or a Flux variable sets this field); make the change by hand"))
            continue
        # Patch the real document only after the trial succeeded, so a failed fix leaves no half-change.
        jsonpatch.apply_patch(doc, patch, in_place=True)
        touched.add(index)
        applied.append(finding)
    if not touched:
        return None, applied, skipped
    parts = []
    for i, chunk in enumerate(chunks):
        parts.append(_dump(yaml, docs[i], chunk.text) if i in touched else chunk.text)
    new_text = bom + "".join(parts)
    return (new_text if new_text != text else None), applied, skipped


def _patch_key(f: Finding) -> tuple[str, int | None, str]:
    # only findings with a file are grouped (apply_fixes), so `or ""` never merges two files
    return (f.file or "", f.line, json.dumps(f.fix, sort_keys=True))


def rule_findings(
    repo: Path, config: Config, clusters: list[str] | None = None, render_errors: list[Finding] | None = None
) -> list[Finding]:
    """Render each cluster and run the policy rules (no schema or capacity step: fixes come from rules).

    Errors and warnings only, one per mistake (a shared file's finding once for all its clusters). Errors of
    rendering itself (the rules then see only what rendered) are added to `render_errors` when given."""
    from . import suppress
    from .cluster_render import render_cluster_manifests
    from .consolidate import consolidate
    from .context import ClusterContext
    from .pools import load_pool_file, pool_file_path
    from .rules import run_rules

    findings: list[Finding] = []
    for cluster in clusters or config.clusters():
        manifests, rendering = render_cluster_manifests(repo, config, cluster)
        if render_errors is not None:
            render_errors += [f for f in rendering if f.severity is Severity.ERROR]
        path = pool_file_path(repo, cluster)
        pool_file = load_pool_file(path, repo) if path.is_file() else None
        ctx = ClusterContext(repo=repo, config=config, cluster=cluster, manifests=manifests, pool_file=pool_file)
        found = run_rules(ctx)
        suppress.mark_annotated(found, manifests)  # an exempted finding is not "fixed"
        findings.extend(f for f in found if f.severity is not Severity.INFO)
    active, _ = suppress.apply(findings, config.rule_settings)
    return consolidate(sorted(active, key=lambda f: (f.sort_key(), f.cluster or "")))


def why_not_fixable(finding: Finding) -> str:
    """One line a person can act on, for a finding that has no fix."""
    from .rules import RULES_BY_ID

    if finding.fix_note:
        return finding.fix_note
    rule = RULES_BY_ID.get(finding.rule)
    if rule is None or not getattr(rule, "FIXABLE", False):
        return f"{finding.rule} has no automatic fix: the change is a choice (`mlplatform rules` says what to do)"
    return "no safe change could be worked out for this object; make it by hand"


def apply_fixes(repo: Path, findings: Iterable[Finding], dry_run: bool = False) -> FixResult:
    """Apply every finding's fix to its source file under `repo`.

    Every finding given ends in `applied` or in `skipped` with a reason. Findings with the same patch at the
    same place (one base file, rendered for two clusters) are applied once and share the outcome.
    """
    import difflib

    result = FixResult()
    groups: dict[tuple[str, int | None, str], list[Finding]] = {}
    for finding in findings:
        if not finding.fix or not finding.file:
            result.skipped.append((finding, why_not_fixable(finding)))
        else:
            groups.setdefault(_patch_key(finding), []).append(finding)
    by_file: dict[str, list[Finding]] = {}
    for (file, _, _), group in groups.items():
        by_file.setdefault(file, []).append(group[0])
    outcome_applied: list[Finding] = []
    outcome_skipped: list[tuple[Finding, str]] = []
    for rel, items in sorted(by_file.items()):
        path = safe_resolve(repo / rel)
        if path is None:
            outcome_skipped += [(f, f"{rel} cannot be resolved (a symlink loop?)") for f in items]
            continue
        if not path.is_file() or repo.resolve() not in path.parents:
            outcome_skipped += [(f, f"{rel} is not a file of the repository") for f in items]
            continue
        items.sort(key=lambda f: (f.line or 0, f.rule))
        new_text, applied, skipped = fix_file(path, items)
        outcome_applied += applied
        outcome_skipped += skipped
        if new_text is None:
            continue
        old_text = read_exact(path)
        diff = "".join(
            difflib.unified_diff(
                old_text.splitlines(keepends=True), new_text.splitlines(keepends=True), f"a/{rel}", f"b/{rel}"
            )
        )
        result.changed_files[rel] = diff
        if not dry_run:
            write_text_atomically(path, new_text)
    for finding in outcome_applied:
        result.applied += groups[_patch_key(finding)]
    for finding, why in outcome_skipped:
        result.skipped += [(f, why) for f in groups[_patch_key(finding)]]
    return result
