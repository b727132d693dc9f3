"""Map each rendered object back to the source file and line a person edits (kustomize loses this)."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .model import Manifest, Provenance
from .render import KustTree, SourceCache, kustomization_file, rel
from .yamlio import Document, LineDict, LineList, mapping

__all__ = [
    "ProvenanceIndex",
    "SourceCache",
    "SourceDoc",
    "SourceProvenance",
    "build_index",
    "source_doc",
    "field_line",
    "path_parts",
]

# kustomize appends a 10-character content hash to generated ConfigMap and Secret names.
_HASH_SUFFIX = re.compile(r"-[a-z0-9]{10}$")


def _group(api_version: Any) -> str:
    text = str(api_version or "")
    return text.split("/", 1)[0] if "/" in text else ""


class SourceDoc:
    """A source document: its repository-relative POSIX `file`, its first `line` (1-based) and `data`, the
    document with line numbers inside (LineDict).

    Provenance is lazy: the index is built from documents read fast, without line numbers; `data` re-reads
    the file with line numbers the first time it is asked for, which happens only for documents that
    something names a field of (a finding, a Flux Kustomization). Files are re-read through the run's
    SourceCache, so each is parsed with line numbers at most once."""

    __slots__ = ("_data", "_reread", "file", "line")

    def __init__(self, file: str, line: int, data: Any, *, reread: tuple[SourceCache, Path, int] | None = None):
        self.file, self.line, self._data = file, line, data
        self._reread = reread  # (cache, file, index of the document) until `data` has re-read it

    @property
    def data(self) -> Any:
        if self._reread is not None:
            cache, path, index = self._reread
            docs = cache.documents(path)
            if isinstance(docs, list) and index < len(docs):
                self._data = docs[index].data
            self._reread = None
        return self._data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SourceDoc):
            return NotImplemented
        return (self.file, self.line, self.data) == (other.file, other.line, other.data)

    # mutable, like the dataclass it replaces: unhashable (typeshed declares object.__hash__ a method)
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SourceDoc(file={self.file!r}, line={self.line})"


def source_doc(file: str, path: Path, doc: Document, cache: SourceCache) -> SourceDoc:
    """The SourceDoc of a document from `cache.fast_documents(path)` (`file`: its path as findings show it):
    line numbers re-read on demand."""
    if doc.lines:
        return SourceDoc(file, doc.line, doc.data)
    return SourceDoc(file, doc.line, None, reread=(cache, path, doc.index))


@dataclass
class ProvenanceIndex:
    """Source documents of one Flux Kustomization, indexed by (group, kind, namespace, name)."""

    repo: Path
    tree: KustTree
    flux_kustomization: str | None = None
    name_prefixes: set[str] = field(default_factory=set)
    name_suffixes: set[str] = field(default_factory=set)
    by_key: dict[tuple[str, str, str | None, str], SourceDoc] = field(default_factory=dict)
    by_name: dict[tuple[str, str, str], SourceDoc] = field(default_factory=dict)
    patches_by_name: dict[tuple[str, str], SourceDoc] = field(default_factory=dict)
    # Source names holding ${...} (substituted later): (group, kind) -> [(regex, doc)]
    templated: dict[tuple[str, str], list[tuple[re.Pattern[str], SourceDoc]]] = field(default_factory=dict)
    generators: dict[tuple[str, str], SourceDoc] = field(default_factory=dict)
    fallback: SourceDoc | None = None

    def locate(self, obj: dict[str, Any]) -> SourceDoc:
        group, kind = _group(obj.get("apiVersion")), str(obj.get("kind") or "")
        meta = mapping(obj.get("metadata"))
        name, namespace = str(meta.get("name") or ""), meta.get("namespace") or None
        for candidate in self._names(name):
            found = self.by_key.get((group, kind, namespace, candidate)) or self.by_name.get(
                (group, kind, candidate)
            )
            if found is not None:
                return found
        for candidate in self._names(name):
            base = _HASH_SUFFIX.sub("", candidate)
            found = self.generators.get((kind, base)) or self.generators.get((kind, candidate))
            if found is not None:
                return found
        for pattern, doc in self.templated.get((group, kind), ()):
            if any(pattern.fullmatch(candidate) for candidate in self._names(name)):
                return doc
        for candidate in self._names(name):
            found = self.patches_by_name.get((kind, candidate))
            if found is not None:
                return found
        assert self.fallback is not None
        return self.fallback

    def _names(self, name: str) -> list[str]:
        """The rendered name and the names it may have had before namePrefix / nameSuffix."""
        names = [name]
        for prefix in self.name_prefixes:
            if prefix and name.startswith(prefix):
                names.append(name[len(prefix) :])
        for suffix in self.name_suffixes:
            for current in list(names):
                if suffix and current.endswith(suffix):
                    names.append(current[: -len(suffix)])
        return names


def _template_regex(name: str) -> re.Pattern[str] | None:
    if "${" not in name:
        return None
    parts = re.split(r"\$\{[^}]*\}", name)
    return re.compile(".*".join(re.escape(p) for p in parts))


_Entry = tuple[tuple[str, str, str | None, str], "SourceDoc", "re.Pattern[str] | None"]


def _entries(repo: Path, path: Path, cache: SourceCache) -> list[_Entry]:
    """The index entries of one resource file: (group, kind, namespace, name), its SourceDoc, and the
    pattern of a name holding ${...}; none for a file that cannot be read (the walk reported it)."""
    docs = cache.fast_documents(path)
    if isinstance(docs, InputError):
        return []
    file, found = rel(repo, path), list[_Entry]()
    for doc in docs:
        data = doc.data
        if not isinstance(data, dict):
            continue
        meta = mapping(data.get("metadata"))
        name = str(meta.get("name") or "")
        key = (_group(data.get("apiVersion")), str(data.get("kind") or ""), meta.get("namespace") or None, name)
        found.append((key, source_doc(file, path, doc, cache), _template_regex(name)))
    return found


def build_index(
    repo: Path,
    tree: KustTree,
    cache: SourceCache,
    *,
    flux_kustomization: str | None = None,
    extra_prefixes: tuple[str | None, ...] = (),
    extra_files: list[Path] | None = None,
) -> ProvenanceIndex:
    """Index every document the kustomization tree loads (resources first, then patches and generators)."""
    index = ProvenanceIndex(
        repo=repo,
        tree=tree,
        flux_kustomization=flux_kustomization,
        name_prefixes=set(tree.name_prefixes),
        name_suffixes=set(tree.name_suffixes),
    )
    index.name_prefixes.update(p for p in extra_prefixes if p)
    for path in [*tree.resource_files, *(extra_files or [])]:
        # every cluster's trees reach the same files: their entries are made once per run and shared (a
        # SourceDoc holds nothing cluster-specific; its lines are re-read through the same cache)
        entries = cache.once(("provenance", repo, path), functools.partial(_entries, repo, path, cache))
        for key, source, pattern in entries:
            group, kind, _namespace, name = key
            index.by_key.setdefault(key, source)
            index.by_name.setdefault((group, kind, name), source)
            if pattern is not None:
                index.templated.setdefault((group, kind), []).append((pattern, source))
    for path in tree.patch_files:
        docs = cache.fast_documents(path)
        if isinstance(docs, InputError):
            continue
        for doc in docs:
            if isinstance(doc.data, dict):
                meta = mapping(doc.data.get("metadata"))
                index.patches_by_name.setdefault(
                    (str(doc.data.get("kind") or ""), str(meta.get("name") or "")),
                    source_doc(rel(repo, path), path, doc, cache),
                )
    for generator in tree.generators:
        index.generators.setdefault(
            (generator.kind, generator.name), SourceDoc(rel(repo, generator.file), generator.line, None)
        )
    root_file = kustomization_file(tree.root)
    index.fallback = SourceDoc(rel(repo, root_file or tree.root), 1, None)
    return index


# ---------------------------------------------------------------- the line of a field


@dataclass(frozen=True)
class SourceProvenance(Provenance):
    """Provenance that also keeps the source document (with line numbers), so a finding about one field of
    the object can name that field's line instead of the object's first line."""

    document: Any = field(default=None, compare=False, repr=False)


# One step of a JSON path as schema.json_path writes it: `.key`, `[3]` or `["odd.key"]`.
_PATH_STEP = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def path_parts(path: str) -> list[str | int] | None:
    """"spec.containers[0]["a.b/c"]" -> ["spec", "containers", 0, "a.b/c"]; None when it cannot be read."""
    parts: list[str | int] = []
    position = 0
    while position < len(path):
        match = _PATH_STEP.match(path, position)
        if match is None or match.end() == position:
            return None
        key, index, quoted = match.groups()
        if key is not None:
            parts.append(key)
        elif index is not None:
            parts.append(int(index))
        else:
            try:
                parts.append(str(json.loads(quoted)))
            except ValueError:
                return None
        position = match.end()
    return parts


def _json_key(key: Any) -> str:
    """A YAML key as YAML-to-JSON (and so the schema path) spells it."""
    if isinstance(key, bool):
        return "true" if key else "false"
    return key if isinstance(key, str) else ("null" if key is None else str(key))


def _source_key(node: LineDict, part: str) -> Any:
    if part in node:
        return part
    for key in node:
        if _json_key(key) == part:
            return key
    return None


def _source_index(node: LineList, rendered: Any, index: int) -> int | None:
    """The source item that became rendered item `index`; None when that cannot be told.

    Patches add, remove and reorder list items: a named item (containers, ports, volumes) is matched by its
    name, anything else by position only when the list kept its length.
    """
    item = rendered[index] if isinstance(rendered, list) and 0 <= index < len(rendered) else None
    name = item.get("name") if isinstance(item, dict) else None
    if isinstance(name, str):
        matches = [i for i, source in enumerate(node) if isinstance(source, dict) and source.get("name") == name]
        if len(matches) == 1:
            return matches[0]
    if isinstance(rendered, list) and len(rendered) == len(node) and 0 <= index < len(node):
        return index
    return None


def field_line(manifest: Manifest, path: str) -> int:
    """The source line of the field at JSON `path` of a rendered object: the deepest part of the path the
    source document has (kustomize patches may have changed the structure), else the object's first line."""
    return _line_of_parts(manifest, path_parts(path) if path else None)


def pointer_line(manifest: Manifest, pointer: str) -> int:
    """field_line for an RFC 6901 JSON pointer (`/spec/template/spec/containers/0/resources`), the form the
    rules' fixes use; a part made of digits is a list index."""
    import jsonpatch  # its JsonPointer unescapes the parts (~1, ~0); fix.py applies these pointers with it

    parts: list[str | int] = [int(p) if p.isdigit() else p for p in jsonpatch.JsonPointer(pointer).parts]
    return _line_of_parts(manifest, parts)


def _line_of_parts(manifest: Manifest, parts: list[str | int] | None) -> int:
    line = manifest.source.line
    node = getattr(manifest.source, "document", None)
    if isinstance(node, SourceDoc):
        node = node.data  # read with line numbers now: a finding names this object
    if not parts or not isinstance(node, LineDict):
        return line
    rendered: Any = manifest.obj
    for part in parts:
        if isinstance(part, str):
            key = _source_key(node, part) if isinstance(node, LineDict) else None
            if key is None:
                break
            line = node.key_lines.get(key, line)
            node = node[key]
            rendered = rendered.get(part) if isinstance(rendered, dict) else None
        else:
            if not isinstance(node, LineList):
                break
            found = _source_index(node, rendered, part)
            if found is None or found >= len(node.item_lines):
                break
            line = node.item_lines[found]
            node = node[found]
            rendered = rendered[part] if isinstance(rendered, list) and part < len(rendered) else None
    return line
