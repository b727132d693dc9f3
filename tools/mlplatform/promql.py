"""The metric names a PromQL expression reads: a small tokenizer, not a parser.

Enough to answer "which metrics must exist for this query to return data" for autoscaler triggers: every
identifier that stands where a vector selector can stand, plus `{__name__="..."}` selectors. Skipped:
function and aggregation names (an identifier followed by `(`), keywords and binary operators (`and`, `by`,
`offset`, ...), label names inside `{...}` and in `by (...)`/`on (...)`-style label lists, string literals,
numbers (`Inf`, `NaN`, hex, exponents) and durations inside `[...]`. Whether the expression is valid PromQL
is promtool's question, not this module's; unbalanced brackets and unterminated strings are reported because
the names after them cannot be told.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Words that are never metric names where they stand (PromQL's keywords and word operators).
KEYWORDS = frozenset(
    {"and", "or", "unless", "atan2", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
     "group_right"}
)
# Keywords followed by a parenthesised list of label names, not of expressions.
LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
NUMBER_WORDS = frozenset({"inf", "nan"})
# Aggregation operators may put their grouping first: `sum by (le) (x)`.
AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
     "quantile", "limitk", "limit_ratio"}
)

_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?(?:\d+(?:ms|[smhdwy]))*")
_SPACE = re.compile(r"\s+")
_OPERATORS = ("==", "!=", ">=", "<=", "=~", "!~", "+", "-", "*", "/", "%", "^", "<", ">", "=", ",", "@")


class PromQLError(ValueError):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at character {position + 1}")
        self.position = position


@dataclass(frozen=True)
class Token:
    kind: str  # ident, string, number, punct
    text: str
    position: int


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char == "#":  # a comment runs to the end of the line
            end = query.find("\n", i)
            i = n if end < 0 else end
            continue
        if space := _SPACE.match(query, i):
            i = space.end()
            continue
        if char in "\"'`":
            end = _string_end(query, i)
            tokens.append(Token("string", _unquote(query[i : end + 1]), i))
            i = end + 1
            continue
        if char.isdigit() or (char == "." and i + 1 < n and query[i + 1].isdigit()):
            match = _NUMBER.match(query, i)
            assert match is not None  # a digit always starts a number
            tokens.append(Token("number", match.group(0), i))
            i = match.end()
            continue
        if ident := _IDENT.match(query, i):
            tokens.append(Token("ident", ident.group(0), i))
            i = ident.end()
            continue
        if char in "(){}[]":
            tokens.append(Token("punct", char, i))
            i += 1
            continue
        operator = next((op for op in _OPERATORS if query.startswith(op, i)), None)
        if operator is None:
            raise PromQLError(f"unexpected character {char!r}", i)
        tokens.append(Token("punct", operator, i))
        i += len(operator)
    return tokens


def _string_end(query: str, start: int) -> int:
    quote, i = query[start], start + 1
    while i < len(query):
        if query[i] == "\\" and quote != "`":
            i += 2
            continue
        if query[i] == quote:
            return i
        i += 1
    raise PromQLError("unterminated string", start)


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    if literal[0] == "`":
        return body
    return re.sub(r"\\(.)", r"\1", body)


@dataclass(frozen=True)
class Selector:
    """A vector selector: the metric name and its equality label matchers (`job="x"`; regexes are left out)."""

    name: str
    matchers: tuple[tuple[str, str], ...] = ()

    def matcher(self, label: str) -> str | None:
        return next((value for key, value in self.matchers if key == label), None)


def metric_names(query: str) -> list[str]:
    """Metric names the query selects, in order of first appearance, without duplicates."""
    names: list[str] = []
    for selector in selectors(query):
        if selector.name not in names:
            names.append(selector.name)
    return names


def selectors(query: str) -> list[Selector]:
    """Every vector selector of the query that names its metric, in order."""
    tokens = tokenize(query)
    found: list[Selector] = []
    stack: list[str] = []  # open brackets; "L" is a label-list parenthesis
    label_list_next = False
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.kind == "punct" and token.text in "({[":
            kind = "L" if token.text == "(" and label_list_next else token.text
            previous = tokens[index - 1] if index > 0 else None
            named_outside = (
                previous is not None and previous.kind == "ident" and previous.text.lower() not in KEYWORDS
            )
            if token.text == "{" and not named_outside:
                # a selector without a name before its braces: its name, if any, is inside
                name = _braced_name(tokens, index)
                if name is not None:
                    found.append(Selector(name, _matchers(tokens, index)))
            stack.append(kind)
            label_list_next = False
            continue
        if token.kind == "punct" and token.text in ")}]":
            expected = {")": "(L", "}": "{", "]": "["}[token.text]
            if not stack or stack[-1] not in expected:
                raise PromQLError(f"unbalanced {token.text!r}", token.position)
            stack.pop()
            continue
        label_list_next = False
        inside = stack[-1] if stack else None
        if inside in ("{", "[", "L") or token.kind != "ident":
            continue
        word = token.text.lower()
        if word in KEYWORDS:
            label_list_next = word in LABEL_LIST_KEYWORDS
            continue
        if word in NUMBER_WORDS or (following is not None and following.text == "("):
            continue  # a number, or a function / aggregation name
        if word in AGGREGATIONS and following is not None and following.text.lower() in ("by", "without"):
            continue
        matchers = _matchers(tokens, index + 1) if following is not None and following.text == "{" else ()
        found.append(Selector(token.text, matchers))
    if stack:
        raise PromQLError("unclosed bracket", len(query))
    return found


def _closing(tokens: list[Token], start: int) -> int:
    """The index of the `}` closing the `{` at `start` (or the end)."""
    for index in range(start + 1, len(tokens)):
        if tokens[index].text == "}" and tokens[index].kind == "punct":
            return index
    return len(tokens)


def _matchers(tokens: list[Token], start: int) -> tuple[tuple[str, str], ...]:
    """Equality matchers inside the braces opening at `start` (`__name__` excluded)."""
    end = _closing(tokens, start)
    found = []
    for index in range(start + 1, end - 2):
        label, operator, value = tokens[index], tokens[index + 1], tokens[index + 2]
        if (
            label.kind in ("ident", "string")
            and operator.text == "="
            and value.kind == "string"
            and tokens[index - 1].text in ("{", ",")
            and label.text != "__name__"
        ):
            found.append((label.text, value.text))
    return tuple(found)


def _braced_name(tokens: list[Token], start: int) -> str | None:
    end = _closing(tokens, start)
    for index in range(start + 1, end):
        name = _name_in_braces(tokens, index)
        if name is not None:
            return name
    return None


def _name_in_braces(tokens: list[Token], index: int) -> str | None:
    """A metric name given inside `{...}`: `__name__="x"`, or a lone quoted name (`{"x", job="y"}`)."""
    token = tokens[index]
    following = tokens[index + 1] if index + 1 < len(tokens) else None
    if token.kind == "ident" and token.text == "__name__" and following is not None and following.text == "=":
        value = tokens[index + 2] if index + 2 < len(tokens) else None
        return value.text if value is not None and value.kind == "string" else None
    previous = tokens[index - 1] if index > 0 else None
    if (
        token.kind == "string"
        and previous is not None
        and previous.text in ("{", ",")
        and following is not None
        and following.text in (",", "}")
    ):
        return token.text
    return None
