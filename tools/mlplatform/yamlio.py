"""Safe YAML loading with line numbers, duplicate-key detection and limits against hostile input."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from . import fastyaml
from .errors import InputError

MAX_FILE_BYTES = 20 * 1024 * 1024  # a manifest larger than this is a mistake, not configuration
# Alias bombs: a few aliases can expand to billions of nodes (each level repeats the previous one); the
# expanded size of documents that use aliases is counted and what no manifest needs is refused. Deep nesting
# ends in RecursionError, which the loaders below turn into a one-line error.
MAX_EXPANDED_NODES = 1_000_000
# ... and the same counted per file (a thousand documents each just under the limit) and per run (a
# thousand such files): what is refused must be refused before anything is built from it.
MAX_EXPANDED_NODES_PER_FILE = MAX_EXPANDED_NODES
MAX_EXPANDED_NODES_PER_RUN = 20 * MAX_EXPANDED_NODES

if TYPE_CHECKING:  # one static base for the checker: both loaders have SafeConstructor's API, all we use
    _BaseLoader = yaml.CSafeLoader
else:
    try:  # the C loader is ~10x faster; fall back to pure Python where libyaml is missing
        _BaseLoader = yaml.CSafeLoader
    except AttributeError:  # pragma: no cover
        _BaseLoader = yaml.SafeLoader


class LineDict(dict[Any, Any]):
    """A mapping that remembers the line of itself and of each key (1-based)."""

    __slots__ = ("line", "key_lines")

    def __init__(self) -> None:
        super().__init__()
        self.line = 0
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    __slots__ = ("line", "item_lines")

    def __init__(self) -> None:
        super().__init__()
        self.line = 0
        self.item_lines: list[int] = []


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: Any, line: int, first_line: int):
        self.key, self.line, self.first_line = key, line, first_line
        super().__init__(f"duplicate key {key!r} (first defined on line {first_line})")


class BadValueError(yaml.YAMLError):
    """A scalar an explicit tag cannot be applied to (`!!int` of nothing, `!!bool` of "maybe")."""

    def __init__(self, message: str, line: int):
        self.line = line
        super().__init__(message)


class LimitError(yaml.YAMLError):
    def __init__(self, message: str, line: int):
        self.line = line
        super().__init__(message)


class _Loader(_BaseLoader):
    """The safe loader (libyaml's when present) with the line-tracking constructors registered below."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    # A merge key (`<<: *defaults`) brings the pairs of the merged mappings in front of the mapping's own
    # (flatten_mapping); an own key then overrides a merged one, and of several merged mappings the first
    # listed wins, as PyYAML and kustomize's go-yaml read them. Only a key written twice in the mapping itself
    # is a duplicate.
    own = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
    loader.flatten_mapping(node)
    merged = len(node.value) - own
    result = LineDict()
    result.line = node.start_mark.line + 1
    own_keys: dict[Any, int] = {}
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError as exc:
            raise LimitError("unhashable mapping key", key_node.start_mark.line + 1) from exc
        line = key_node.start_mark.line + 1
        if index >= merged:
            if key in own_keys:
                raise DuplicateKeyError(key, line, own_keys[key])
            own_keys[key] = line
        result.key_lines[key] = line
        result[key] = loader.construct_object(value_node, deep=True)
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList()
    result.line = node.start_mark.line + 1
    for child in node.value:
        result.item_lines.append(child.start_mark.line + 1)
        result.append(loader.construct_object(child, deep=True))
    return result


def _construct_timestamp_as_str(loader: _Loader, node: yaml.ScalarNode) -> str:
    # Kubernetes treats dates as strings; a datetime object would not serialise back to JSON.
    return loader.construct_scalar(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_str)


_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


def _build(loader: _Loader, node: yaml.Node, memo: dict[int, Any]) -> Any:
    """Node tree -> LineDict/LineList/scalars, the same values the constructors above give, ~2x faster.

    PyYAML's generic construct_object costs more than libyaml's parsing; manifests are almost all plain maps,
    lists and strings, whose tags the resolver has already settled, so those are built directly here. Any
    other tag (ints, floats, !!binary, merge keys, unknown tags) goes through the registered constructors.
    """
    tag = node.tag
    if tag == _STR_TAG and isinstance(node, yaml.ScalarNode):
        return node.value
    known = memo.get(id(node))
    if known is not None:
        return known  # an alias: share the object, as PyYAML does
    if tag == _MAP_TAG and isinstance(node, yaml.MappingNode):
        if any(key.tag == _MERGE_TAG for key, _ in node.value):
            return loader.construct_object(node, deep=True)
        result = LineDict()
        result.line = node.start_mark.line + 1
        memo[id(node)] = result
        key_lines = result.key_lines
        for key_node, value_node in node.value:
            key = _build(loader, key_node, memo)
            line = key_node.start_mark.line + 1
            try:
                seen = key in key_lines
            except TypeError as exc:
                raise LimitError("unhashable mapping key", line) from exc
            if seen:
                raise DuplicateKeyError(key, line, key_lines[key])
            key_lines[key] = line
            result[key] = _build(loader, value_node, memo)
        return result
    if tag == _SEQ_TAG and isinstance(node, yaml.SequenceNode):
        items = LineList()
        items.line = node.start_mark.line + 1
        memo[id(node)] = items
        for child in node.value:
            items.item_lines.append(child.start_mark.line + 1)
            items.append(_build(loader, child, memo))
        return items
    if tag == _NULL_TAG:
        return None
    if tag == _BOOL_TAG:
        return loader.bool_values[node.value.lower()]
    if tag == _TIMESTAMP_TAG:
        return node.value
    return loader.construct_object(node, deep=True)


@dataclass
class Document:
    """One YAML document of a file: its data (None when empty) and the line it starts on."""

    data: Any
    line: int
    index: int
    # False when read by the fast path: plain dicts and lists without line numbers inside (the document's
    # own start line is still exact); load_documents gives the line-aware version of the same document.
    lines: bool = True


@dataclass
class YamlProblem:
    """Why a file could not be read, with the 1-based line where known."""

    message: str
    line: int


def safe_load(text: str) -> Any:
    """yaml.safe_load with libyaml's parser where it is installed: the same constructors, so the same values,
    ~10x faster (the catalog, and YAML embedded in ConfigMaps that rules read once per cluster)."""
    return yaml.load(text, Loader=_BaseLoader)  # noqa: S506 - CSafeLoader or SafeLoader


def read_text(path: Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Read a text file, refusing oversized and non-UTF-8 content with an InputError."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", str(path)) from exc
    if size > max_bytes:
        raise InputError(f"file is {size // (1024 * 1024)} MiB, over the {max_bytes // (1024 * 1024)} MiB limit",
                         str(path), 1)
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise InputError("binary file (contains NUL bytes)", str(path), 1)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})", str(path), line) from exc


class _RunBudget:
    """The expanded nodes of alias-using documents loaded by this process (one run of the CLI)."""

    def __init__(self) -> None:
        self.spent = 0
        self.lock = threading.Lock()

    def spend(self, nodes: int, line: int) -> None:
        with self.lock:
            if self.spent + nodes > MAX_EXPANDED_NODES_PER_RUN:
                raise LimitError(f"aliases in the files of this run expand to more than "
                                 f"{MAX_EXPANDED_NODES_PER_RUN} nodes (alias bombs spread over many files)", line)
            self.spent += nodes

    def try_spend(self, nodes: int) -> bool:
        """Spend `nodes` if they fit, else spend nothing and say so (the fast path then leaves the text to the
        line-aware loader, which spends document by document and raises spend's error at the same line)."""
        with self.lock:
            if self.spent + nodes > MAX_EXPANDED_NODES_PER_RUN:
                return False
            self.spent += nodes
            return True


RUN_BUDGET = _RunBudget()


def check_alias_expansion(text: str) -> None:
    """LimitError when `text` (every document of it), aliases expanded, is over the per-document, per-file
    or per-run budget; yaml.YAMLError when it is not YAML. For text built at run time (substituted objects)."""
    if not _may_alias(text):
        return
    total = 0
    for node in yaml.compose_all(text, Loader=_BaseLoader):  # noqa: S506 - composes nodes, builds nothing
        if node is not None:
            total = _count_file(total, _check_expansion(node), node.start_mark.line + 1)


def _count_file(total: int, nodes: int, line: int) -> int:
    total += nodes
    if total > MAX_EXPANDED_NODES_PER_FILE:
        raise LimitError(f"aliases in this file expand to more than {MAX_EXPANDED_NODES_PER_FILE} nodes "
                         "(an alias bomb spread over its documents)", line)
    RUN_BUDGET.spend(nodes, line)
    return total


def _check_expansion(root: yaml.Node) -> int:
    """The node count of the document with every alias expanded; LimitError when it exceeds
    MAX_EXPANDED_NODES, or when an alias refers to a node that contains it (a recursive structure)."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    # iterative post-order walk: (node, children expanded yet?)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        key = id(node)
        if expanded:
            on_path.discard(key)
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            sizes[key] = total
            if total > MAX_EXPANDED_NODES:
                raise LimitError(f"aliases expand to more than {MAX_EXPANDED_NODES} nodes (an alias bomb)",
                                 node.start_mark.line + 1)
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise LimitError("an alias refers to a node that contains it (a recursive structure)",
                             node.start_mark.line + 1)
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) not in sizes:
                if id(child) in on_path:
                    raise LimitError("an alias refers to a node that contains it (a recursive structure)",
                                     child.start_mark.line + 1)
                stack.append((child, False))
    return sizes[id(root)]


def _expanded_size(value: Any) -> int:
    """_check_expansion's count on an already expanded tree (yaml-rs copies aliased nodes): a mapping is 1 +
    its keys + its values, a sequence 1 + its items, anything else 1."""
    if isinstance(value, dict):  # map() rather than a generator: ~1.7x faster on manifests
        return 1 + sum(map(_expanded_size, value)) + sum(map(_expanded_size, value.values()))
    if isinstance(value, list):
        return 1 + sum(map(_expanded_size, value))
    return 1


def _fits_alias_budgets(data: list[tuple[Any, int]]) -> bool:
    """Whether the documents the fast path read stay within the per-document, per-file and per-run alias
    budgets; spends on RUN_BUDGET only when all fit, so that a refused text is counted once, by the
    line-aware loader that then reads it and raises the same error at the same line."""
    total = 0
    for value, _line in data:  # an empty document after `---` is a null node, 1 as in iter_documents
        try:
            nodes = _expanded_size(value)
        except RecursionError:
            return False  # deep flow nesting: the line-aware loader gives its error
        total += nodes
        if nodes > MAX_EXPANDED_NODES or total > MAX_EXPANDED_NODES_PER_FILE:
            return False
    return RUN_BUDGET.try_spend(total)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


# An alias (`*name` after a space, `[`, `{` or `,`) is what makes a document expand; text without one cannot
# be an alias bomb, so the expansion walk is skipped for it. A `*` inside a plain scalar only costs the walk.
# (Searched in "\n" + text: a line start is a line break, and a literal class instead of `^|...` lets the
# regex engine skip ahead: 224 -> 59 us on a 7.5 KB PyTorchJob here.)
_ALIAS_TOKEN = re.compile(r"[\s\[{,]\*[^\s,\[\]{}]")


def _may_alias(text: str) -> bool:
    # Most texts hold no `*` at all: `in` finds that in C at memory speed, where the regex (which starts
    # with an alternation) tries every position, 70 us for a 1.6 KB manifest.
    return "*" in text and _ALIAS_TOKEN.search("\n" + text) is not None


def iter_documents(text: str) -> Iterator[Document]:
    """Yield each document with its start line; raise yaml.YAMLError (with problem_mark) on bad YAML."""
    loader = _Loader(text)
    may_alias = _may_alias(text)
    expanded = 0  # over the documents of this text: the per-file budget
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            # The C loader composes nodes without calling compose_node, so aliases cannot be counted there:
            # any text with an anchor gets its expanded size measured instead.
            if node is not None and may_alias:
                expanded = _count_file(expanded, _check_expansion(node), node.start_mark.line + 1)
            line = node.start_mark.line + 1 if node is not None else 1
            try:
                data = _build(loader, node, {}) if node is not None else None
            except yaml.YAMLError:
                raise
            except (ValueError, TypeError, IndexError, KeyError, OverflowError, AttributeError) as exc:
                # PyYAML's constructors fail with these on explicit tags they cannot apply
                raise BadValueError(f"invalid YAML value: {type(exc).__name__}: {exc}", line) from exc
            yield Document(data, line, index)
            index += 1
    finally:
        loader.dispose()


def error_line(exc: BaseException) -> int:
    """The 1-based line a YAML error refers to (1 when unknown)."""
    line = getattr(exc, "line", None)
    if isinstance(line, int):
        return line
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else 1


def error_message(exc: BaseException) -> str:
    if isinstance(exc, DuplicateKeyError | LimitError | BadValueError):
        return str(exc)
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if problem:
        return f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    return f"invalid YAML: {exc}"


def load_documents(path: Path, max_bytes: int = MAX_FILE_BYTES) -> list[Document]:
    """All documents of a file; raise InputError naming file and line on any problem."""
    return load_text(read_text(path, max_bytes), path)


def load_text(text: str, path: Path) -> list[Document]:
    """The documents of `text`, already read from `path` (named in errors), as load_documents gives them."""
    try:
        return list(iter_documents(text))
    except yaml.YAMLError as exc:
        raise InputError(error_message(exc), str(path), error_line(exc)) from exc
    except RecursionError as exc:
        raise InputError("nesting too deep", str(path), 1) from exc
    except (ValueError, TypeError, IndexError, KeyError, OverflowError, AttributeError) as exc:
        # PyYAML's constructors raise these for explicit tags they cannot apply (`!!int` of nothing, ...)
        raise InputError(f"invalid YAML value: {type(exc).__name__}: {exc}", str(path), 1) from exc


def load_documents_fast(path: Path, max_bytes: int = MAX_FILE_BYTES) -> list[Document]:
    """All documents of a file as load_documents gives them, but without line numbers inside when the fast
    parser can vouch for the text (fastyaml.py); the same limits, errors and lines otherwise."""
    text = read_text(path, max_bytes)
    fast = fastyaml.documents(text)
    # the same alias accounting as iter_documents: every document of a text that may alias is counted
    if fast is None or (_may_alias(text) and not _fits_alias_budgets(fast)):
        return load_text(text, path)
    return [Document(data, line, index, lines=False) for index, (data, line) in enumerate(fast)]


def load_one(path: Path) -> Any:
    """A file that must hold exactly one YAML document."""
    docs = [d for d in load_documents(path) if d.data is not None]
    if len(docs) != 1:
        raise InputError(f"expected one YAML document, found {len(docs)}", str(path), 1)
    return docs[0].data


def plain(value: Any) -> Any:
    """Copy LineDict/LineList trees into plain dicts and lists (for JSON, schema validation, hashing)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def what_it_is(data: Any) -> str:
    """How a message names a document that is not a mapping: "a list", "a str scalar"."""
    return "a list" if isinstance(data, list) else f"a {type(data).__name__} scalar"


def mapping(value: Any) -> dict[str, Any]:
    """The value when it is a mapping, else an empty one: reads optional sections of a manifest
    (`spec.strategy`, ...) without a check at every step."""
    return value if isinstance(value, dict) else {}
