"""The fast path of YAML loading: a compiled parser (yaml-rs) for the documents it reads exactly as we do.

Our reference semantics are PyYAML's safe loader (YAML 1.1 scalars, timestamps kept as strings, duplicate
keys refused) as yamlio.py and render.PlainLoader apply them. yaml-rs implements YAML 1.2, so a text is
given to it only when nothing in it can be read differently: a conservative scan of the text sends a
document that holds any YAML 1.1-only scalar (`on`, `yes`, `0755`, `1e3`, `1:20`, ...), any anchor, alias,
tag, merge key, directive, complex key, tab, CR, backslash escape, special character or deep indentation to
the line-aware loader instead. What the scan lets through is plain maps, lists, strings, plain decimal
numbers, `true`/`false`/`null`: the subset kustomize writes and people write. Source files (documents(),
not load()) may also hold simple anchors and aliases (`labels: &labels` ... `labels: *labels`, a shared
pod spec): those on a line of their own in block context, each name anchored once and used after its node
ends, few enough that yaml-rs (which copies aliased nodes) cannot build an alias bomb; their expanded size
is counted against the same budgets as the line-aware loader's (yamlio.load_documents_fast). The content of
a block scalar (`key: |` and the lines under it: shell and Python where `&&`, `*` and `!` look like anchors,
aliases and tags) is text to both loaders and is not scanned; a block the two read differently (empty, or
ending the text without a line break) or whose header the scan does not recognise sends the text to the
line-aware loader.
A false alarm costs speed, never correctness; the differential tests (tests/test_fastyaml.py, with fuzzed
lines around block scalars) hold both paths to identical results.

Every error goes to the line-aware loader too, so messages and lines come from one place; duplicate keys
make yaml-rs fail, and so reach it. Without yaml-rs (a platform with no wheel) everything takes that path.
"""

from __future__ import annotations

import functools
import re
from types import ModuleType
from typing import Any

# The module or None (tests set None to take the path of a platform without the wheel); typed as a module
# so the None case is checked, its calls return the parsed YAML (Any, the YAML boundary).
_rs: ModuleType | None
try:  # a compiled wheel; absent on platforms it is not built for, then every text takes the PyYAML path
    import yaml_rs as _yaml_rs

    _rs = _yaml_rs
except ImportError:  # pragma: no cover - exercised by tests/test_fastyaml.py through monkeypatching
    _rs = None

_DUPLICATES_FAIL = _rs.DuplicateKeyPolicy.Error if _rs is not None else None

# Characters PyYAML's reader refuses or treats as line breaks (\x85, \u2028, \u2029), the BOM (stripped at
# the start by PyYAML only), tabs and CRs (whitespace rules differ between the two), and backslashes
# (escape sets differ between YAML 1.1 and 1.2).
_RISKY_CHAR = re.compile("[\x00-\x08\t\x0b-\x1f\x7f-\x9f\\\\\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")

# Document-level syntax the fast path leaves alone: directives, `...`, `---` followed by content, complex
# keys (`? `), empty keys (`: x`), and indentation (block nesting) deep enough to approach the recursion
# limits of the line-aware loader, which turns them into a "nesting too deep" error. The texts searched
# start with a line break of their own (see _scan), so a line start is a `\n`: a literal first character
# lets the regex engine skip ahead instead of trying every position (4x faster on manifests).
_RISKY_LINE = re.compile(r"\n(?:%|\.\.\.|---[ \t]*\S|[ \t]*[?:](?:[ \t]|$)|[ \t-]{160,})", re.MULTILINE)

# A token where a plain scalar may stand (after whitespace, a line break or a flow/indicator character)
# that ends where a plain scalar may end. Quoted scalars never match: their first character is a quote.
# The lookahead on the token's first character makes the many non-matching positions fail at once.
_START = r"[\s\[{,?](?=[&*!yYnNoO<=+\-.0-9])"
_END = r"(?=[ \t]*(?:$|[,\]}#]|:(?:[ \t]|$)))"
# Numbers both loaders read alike: plain decimal integers and decimals, and dotted versions (strings).
_SAFE_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?" + _END + r"|[0-9]+(?:\.[0-9]+){2,}" + _END
_RISKY_TOKEN = re.compile(
    _START
    + r"(?:"
    # anchors, aliases and tags: alias expansion limits and tag semantics stay with the line-aware loader
    + r"[&*!][^\s]"
    # YAML 1.1 booleans that YAML 1.2 reads as strings; the merge key and the value key
    + r"|(?:yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|<<|=)" + _END
    # anything number-like that is not a plain decimal: octal 0755, 1_000, 1e3, 0x1F, 0o17, 1:20, .inf
    + r"|(?!" + _SAFE_NUMBER + r")[-+]?(?:[0-9._:]*[0-9][0-9._:]*(?:[eE][-+]?[0-9]+)?"
    + r"|0[xXoObB][0-9a-fA-F_]+|\.[A-Za-z]+)" + _END
    + r")",
    re.MULTILINE,
)

# The `---` lines between documents (PyYAML's document start marker on a line of its own), searched from a
# literal line break in "\n" + text (as _RISKY_LINE: many times faster than `^` in MULTILINE mode).
_ANY_DOC_START = re.compile(r"\n---[ \t]*(?:#[^\n]*)?(?=\n|$)")
_CONTENT_LINE = re.compile(r"^[ \t]*[^\s#]", re.MULTILINE)


def available() -> bool:
    return _rs is not None


def vouches_for(text: str) -> bool:
    """True when the text holds nothing the two loaders could read differently (see the module doc)."""
    return _scan(text) is not None


def _strictly_vouches_for(text: str) -> bool:
    """vouches_for without looking past block scalars: every line has no risky token."""
    return _scan(text) is True


def _scan(text: str, aliases: bool = False) -> bool | None:
    """True: nothing risky and no block scalar; False: vouched for, with block scalars whose content was not
    scanned (or, with `aliases`, with simple anchors and aliases masked); None: not vouched for."""
    if _RISKY_CHAR.search(text) is not None:
        return None
    framed = "\n" + text  # the first line starts after a line break too
    if _RISKY_LINE.search(framed) is not None:
        return None
    if _BLOCK_INDICATOR.search(text) is None:
        if not aliases or ("&" not in text and "*" not in text):
            return True if _RISKY_TOKEN.search(framed) is None else None
        masked: str | None = text
    elif not text.endswith("\n"):
        return None  # a block at the very end without a line break: yaml-rs adds one, PyYAML does not
    else:
        # Shell scripts and programs in `|` blocks (`&& exec`, `*`, `!`) look like anchors, aliases and tags;
        # inside a block scalar every character is text to both loaders, so its content lines are not scanned.
        masked = _without_block_content(text)
    if masked is not None and aliases and ("&" in masked or "*" in masked):
        masked = _without_simple_aliases(masked, len(text))
    if masked is None:
        return None
    return False if _RISKY_TOKEN.search("\n" + masked) is None else None


# `|` or `>` (with chomping or indentation indicators, a comment) at the end of a line: maybe a block scalar.
_BLOCK_INDICATOR = re.compile(r"[|>][-+0-9]*[ \t]*(?:#[^\n]*)?$", re.MULTILINE)
# A line that opens a block scalar the scan can read: sequence dashes, then a plain key made of safe
# characters (or no key), then `|` or `>` with an optional chomping indicator and comment, nothing else.
_BLOCK_HEADER = re.compile(r"( *)((?:- +)*)([A-Za-z0-9_./-]+: +)?[|>][+-]?[ ]*(?:#.*)?")
# Any other line that may open one (a quoted or complex key, an indentation indicator `|2`, `a: x >`).
_MAYBE_BLOCK_HEADER = re.compile(r"(?:.*[ \t])?[|>][-+0-9]*[ \t]*(?:#.*)?")


def _without_block_content(text: str) -> str | None:
    """`text` with the content lines of its block scalars emptied; None when a block is one the two loaders
    may read differently: an empty one (yaml-rs reads `k: |` with nothing under it as "\\n", PyYAML as "")
    or one whose header the rule below does not recognise.

    A block scalar's content is every following line indented past the column of the collection it belongs
    to (its key's, or its dash's for `- |`), empty lines too, up to the first line that is not."""
    out: list[str] = []
    column: int | None = None  # the open block's collection column: content lines are indented past it
    filled = False  # the open block has a line with content
    for line in text.split("\n"):
        if column is not None:
            stripped = line.lstrip(" ")
            if not stripped or len(line) - len(stripped) > column:
                filled = filled or bool(stripped)
                out.append("")
                continue
            if not filled:
                return None
            column = None
        header = _BLOCK_HEADER.fullmatch(line)
        if header is not None:
            indent, dashes, key = header.groups()
            # the collection the block belongs to: its key's mapping, else the last dash's sequence (both
            # loaders take content from one column past it, as the YAML spec says)
            column = len(indent) + (len(dashes) if key or not dashes else dashes.rstrip(" ").rfind("-"))
            filled = False
        elif _MAYBE_BLOCK_HEADER.fullmatch(line) is not None:
            return None
        out.append(line)
    if column is not None and not filled:
        return None
    return "\n".join(out)


# Anchors and aliases in the shapes both loaders read alike (tested: tests/test_fastyaml.py), on one line of
# their own in block context: after `key: ` (a plain key of safe characters) or `- `, an anchor `&name` then
# the end of the line (the anchored node is the block below) or a plain scalar the scan still checks, and an
# alias `*name` as the whole value. Names use PyYAML's anchor characters only: yaml-rs also takes `.`, `/`,
# `:` and non-ASCII letters, which PyYAML refuses. Comments, quoted or flow values and block scalars after
# an anchor are not recognised: the token is not masked, and the scan refuses the text.
# (Searched in "\n" + text, from a literal line break: as _RISKY_LINE, many times faster than `^`.)
_TOKEN_LINE = re.compile(
    r"\n(?=[^\n]*[&*])( *)((?:- +)*)([A-Za-z0-9_./-]+: +)?([&*])([A-Za-z0-9_-]+)"
    r"( +[^\s\-?:,\[\]{}#&*!|>'\"%@`](?:[^:#\n]|:(?=\S))*?)? *(?=\n|$)"
)
# yaml-rs copies an aliased node (it shares nothing), so an alias bomb would be built before it could be
# counted. Each alias at most doubles what precedes it (it names a node complete before it), so a text of n
# characters (at most about one node each) with k aliases expands to at most n * 2**k nodes: that bound must
# stay under the line-aware loader's per-document limit (yamlio.MAX_EXPANDED_NODES) before yaml-rs runs.
_MAX_ALIASES = 8
_MAX_EXPANDED = 1_000_000
# Lines with a flow indicator or a quote, for the flow depth and the quoted scalars that span lines.
_FLOW_LINE = re.compile(r"\n[^\n\[\]{}'\"]*[\[\]{}'\"][^\n]*")
# What a line holds once quoted scalars and comments are gone.
_QUOTED_OR_COMMENT = re.compile(r"\"[^\"]*\"|'[^']*'|(?:^|\s)#.*")
# A quote that opens a scalar (where a value starts) and is left once the quoted scalars closing on their line
# are gone: a quoted scalar spanning lines.
_QUOTE_START = re.compile(r"(?:^|[\[{,]|[-:] ) *[\"']")


@functools.cache
def _block_end(column: int, dash: bool) -> re.Pattern[str]:
    """The first content line (not blank, not a comment) that closes a block anchored at `column`: one less
    indented, or as indented and not an item of it (a key's value may be a sequence at the key's column)."""
    if dash:
        return re.compile(rf"\n {{0,{column}}}[^ \n#]")
    fewer = rf" {{0,{column - 1}}}[^ \n#]|" if column else ""
    return re.compile(rf"\n(?:{fewer} {{{column}}}(?!-(?:[ \n]|$))[^ \n#])")


def _without_simple_aliases(masked: str, size: int) -> str | None:
    """`masked` (block content already emptied) with its anchors and aliases of the recognised shapes blanked
    out, for the scan to check the rest; None when they are not ones yaml-rs reads as PyYAML does.

    yaml-rs takes a name anchored twice (the last wins; PyYAML refuses it), reads an alias to a node that
    contains it as null (PyYAML refuses a recursive structure) and expands aliases before they can be counted,
    so each of these sends the text to the line-aware loader: a name anchored twice, an alias before its
    anchor or inside the node anchored (the block below the anchor's line, up to _block_end), a token inside a
    flow collection or with a quoted scalar spanning lines in the text (their lines may be indented anyhow),
    more than _MAX_ALIASES aliases or an expansion bound over _MAX_EXPANDED."""
    framed = "\n" + masked  # positions below are in `framed`: one past those in `masked`
    tokens = [t for t in _TOKEN_LINE.finditer(framed) if (t[2] or t[3]) and (t[4] == "&" or t[6] is None)]
    if not tokens:
        return masked
    # lines after the last token change nothing below: no token's depth, no alias's anchored block
    flows = list(_FLOW_LINE.finditer(framed, 0, tokens[-1].start()))
    depth = aliases = counted = opener = opened = 0
    closes: dict[str, int] = {}  # anchor name -> where the anchored node is complete
    out: list[str] = []
    position = 1
    for token in tokens:
        while counted < len(flows) and flows[counted].start() < token.start():  # the lines before this one
            line = flows[counted][0]
            counted += 1
            if "'" in line or '"' in line or "#" in line:
                bare = _QUOTED_OR_COMMENT.sub("", line)
            elif not depth and line.count("[") == line.count("]") and line.count("{") == line.count("}"):
                continue  # `- {name: x}`: closes what it opens, and holds no quote; the most common case
            else:
                bare = line
            if _QUOTE_START.search(bare) is not None:
                return None  # a quoted scalar spanning lines, whose lines may be indented anyhow
            before = depth
            depth = max(0, depth + bare.count("[") + bare.count("{") - bare.count("]") - bare.count("}"))
            if not before and depth:  # a flow collection spanning lines opens
                opener, opened = len(line) - len(line.lstrip("\n ")) - 1, flows[counted - 1].end()
            elif before and not depth and _block_end(opener, True).search(framed, opened, flows[counted - 1].end()):
                return None  # its lines are not all indented past its first: they could close an anchored block
        if depth > 0:
            return None  # inside a flow collection spanning lines
        spaces, dashes, key, sigil, name, scalar = token.groups()
        if sigil == "*":
            if closes.get(name, len(framed)) > token.start():
                return None  # undefined, or inside the node it names: yaml-rs reads null where PyYAML refuses
            aliases += 1
        elif name in closes:
            return None  # yaml-rs takes a duplicate anchor (the last wins), PyYAML refuses it
        elif scalar is not None:
            closes[name] = token.end()
        else:  # the anchored node is the block below, owned by the key's mapping or the last dash's sequence
            column = len(spaces) + (len(dashes) if key or not dashes else dashes.rstrip(" ").rfind("-"))
            end = _block_end(column, not key).search(framed, token.end())
            closes[name] = len(framed) if end is None else end.start()
        out += [framed[position : token.start(4)], " " * (token.end(5) - token.start(4))]
        position = token.end(5)
    if aliases > _MAX_ALIASES or size << aliases > _MAX_EXPANDED:
        return None
    out.append(framed[position:])
    return "".join(out)


def _parse(text: str) -> tuple[bool, Any]:
    if _rs is None:  # the callers ask available() first
        return False, None
    try:
        return True, _rs.loads(text, parse_datetime=False, duplicate_key_policy=_DUPLICATES_FAIL)
    except Exception:  # noqa: BLE001 - any failure goes to the line-aware loader, which reports it
        return False, None


# Whether a one-document text may take the fast path, kept per text: a fleet's clusters share builds, so the
# same object text comes back once per cluster, and the scan costs as much as the parse. Bounded so that a
# long-lived process stays small; the texts it keeps are the ones the run holds anyway.
# (strictly: every line free of risky tokens, which _clean_edit needs; clean: may take the fast path)
_MAX_CLEAN = 20_000
_clean_memo: dict[str, tuple[bool, bool]] = {}


def _verdicts(text: str) -> tuple[bool, bool]:
    known = _clean_memo.get(text)
    if known is None:
        scanned = _scan(text) if _ANY_DOC_START.search("\n" + text) is None else None
        known = (scanned is True, scanned is not None)
        if len(_clean_memo) >= _MAX_CLEAN:
            _clean_memo.clear()
        _clean_memo[text] = known
    return known


def _clean(text: str) -> bool:
    return _verdicts(text)[1]


def _clean_edit(original: str, edited: str) -> bool:
    """_clean(edited), knowing that `edited` is `original` with some lines changed (Flux substitution).

    Every test of the strict scan looks at one line at a time (a character, a line start, a token that ends
    at the end of its line), so when both texts have the same number of lines and the original passes it
    (its verdict is usually known), the changed lines' strict scan suffices. Otherwise (a value brought a
    line break, or the original is vouched for only past its block scalars): the whole scan."""
    before, after = original.split("\n"), edited.split("\n")
    if len(before) == len(after) and _verdicts(original)[0]:
        changed = "\n".join(new for new, old in zip(after, before, strict=True) if new != old)
        if _strictly_vouches_for(changed) and _ANY_DOC_START.search("\n" + changed) is None:
            return True
    return _clean(edited)


def load(text: str) -> tuple[bool, Any]:
    """One document without line numbers: (True, value) when the fast path read it, else (False, None)."""
    if _rs is None or not _clean(text):
        return False, None
    return _load_vouched(text)


def load_edited(original: str, edited: str) -> tuple[bool, Any]:
    """load(edited) for a text that is `original` with some lines changed, scanning only those lines."""
    if _rs is None or not _clean_edit(original, edited):
        return False, None
    return _load_vouched(edited)


def _load_vouched(text: str) -> tuple[bool, Any]:
    ok, value = _parse(text)
    if not ok or (value is None and _CONTENT_LINE.search(text) is not None):
        return False, None  # `null` or `~` as a whole document: rare, and its line is the node's
    return True, value


def documents(text: str) -> list[tuple[Any, int]] | None:
    """(data, start line) of each document, as yamlio.iter_documents gives them but without line numbers
    inside; None when the fast path cannot vouch for the text (the caller then uses the line-aware loader).

    Unlike load(), this takes texts with simple anchors and aliases (_without_simple_aliases); their expanded
    size is bounded here before parsing, and counted against the alias budgets by the caller
    (yamlio.load_documents_fast), which falls back to the line-aware loader when a budget would be exceeded."""
    if _rs is None or _scan(text, aliases=True) is None:
        return None
    result: list[tuple[Any, int]] = []
    position, line, first = 0, 1, True
    # searched in "\n" + text: a match starts at the line break before `---`, which is where `---` starts
    # in the text itself, and ends one character later than the marker does in the text
    for marker in [*_ANY_DOC_START.finditer("\n" + text), None]:
        end = marker.start() if marker is not None else len(text)
        chunk = text[position:end]
        content = _CONTENT_LINE.search(chunk)
        if content is None:
            # PyYAML: text before the first `---` is a document only if it has content; after a `---`, an
            # empty document is None, placed where the next token is: the next `---`, or the end of the
            # stream (libyaml ends an unterminated last line with a line break of its own)
            if not first:
                unterminated = 1 if marker is None and chunk and not chunk.endswith("\n") else 0
                result.append((None, line + chunk.count("\n") + unterminated))
        else:
            ok, value = _parse(chunk)
            if not ok or value is None:
                return None
            result.append((value, line + chunk.count("\n", 0, content.start())))
        if marker is not None:
            line += chunk.count("\n") + 1  # the chunk's lines and the marker's line
            position = marker.end()  # past the marker's line break (marker.end() - 1 in the text)
        first = False
    return result
