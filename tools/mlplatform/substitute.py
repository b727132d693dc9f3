"""Flux postBuild variable substitution with kustomize-controller's semantics (fluxcd/pkg envsubst, strict).

What Flux does (fluxcd/pkg kustomize/kustomize_varsub.go, envsubst/*, read 2026-11): for each built object
not labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled`, take its YAML text, replace
`${var}` expressions and parse the result again. Variables come from `postBuild.substituteFrom` (ConfigMaps
and Secrets in the Kustomization's namespace, in order, newlines removed) and then `postBuild.substitute`
(which wins). Only `${...}` is an expression (a bare `$var` is left alone); `$$` is an escape for `$`.
Supported: `${var}`, `${var:=d}`, `${var:-d}`, `${var=d}` (each uses the default when the value is unset
or empty), `${#var}`, `${var^}`, `${var^^}`, `${var,}`, `${var,,}`, `${var:n[:len]}`, `${var#p}`,
`${var##p}`, `${var%p}`, `${var%%p}`, `${var/p/r}`, `${var//p/r}`, `${var/#p/r}`, `${var/%p/r}`.
We substitute strictly: a variable with no value and no default is an error (flux/substitute-unset), whatever
the controller does with it. kustomize-controller itself evaluates it to an empty string unless it runs with
the feature gate StrictPostBuildSubstitutions (then the Kustomization fails to build); the finding's message
says which of the two the cluster's Flux bootstrap gives (flux_bootstrap.py).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import fastyaml, yamlio
from .model import Finding, Severity

DISABLED_KEY = "kustomize.toolkit.fluxcd.io/substitute"
# Bounds on what one object's substitution may cost (issue 16, docs/security.md). The output limit is well
# above what the API server stores (etcd's default request limit is 1.5 MiB) and far below what exhausts a
# CI runner: `${x}` a thousand times, x a megabyte long, no longer builds a gigabyte in memory. The nesting
# limit keeps the evaluator's recursion (one level per `${...}` inside an argument) far from Python's stack
# limit, so hundreds of nested `${a:=${b:=...}}` are a finding, not a crash.
MAX_OUTPUT_CHARS = 4 * 1024 * 1024
MAX_NESTING = 64
MAX_PATTERN_VALUE_CHARS = 64 * 1024  # `${v#p}` tries every prefix of v: quadratic in v
VAR_NAME = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*$")
_DEFAULT_OPS = {"=", ":=", ":-", "-", "+", "?", ":+", ":?"}


class SubstitutionError(Exception):
    """A malformed expression or an unset variable; `offset` is the character position in the text."""

    def __init__(self, message: str, offset: int, variable: str | None = None):
        super().__init__(message)
        self.message, self.offset, self.variable = message, offset, variable


Lookup = Callable[[str], str | None]


def _is_ident(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


class _Parser:
    """A recursive-descent evaluator mirroring fluxcd/pkg/envsubst/parse (same forms, same errors)."""

    def __init__(self, text: str, lookup: Lookup):
        self.text, self.pos, self.lookup = text, 0, lookup
        self.depth = 0  # `${...}` being evaluated inside one another
        self.produced = 0  # characters produced by expressions so far (MAX_OUTPUT_CHARS)

    def produce(self, piece: str, start: int) -> str:
        """Count what an expression produced (at every nesting level: an upper bound of the output)."""
        self.check_size(len(piece), start)
        self.produced += len(piece)
        return piece

    def check_size(self, more: int, start: int) -> None:
        if self.produced + more > MAX_OUTPUT_CHARS:
            raise SubstitutionError(
                f"substitution would produce more than {MAX_OUTPUT_CHARS // (1024 * 1024)} MiB for this object "
                "(a variable value repeated or replaced into a bomb); Flux would build it into one huge object",
                start,
            )

    def peek(self, ahead: int = 0) -> str:
        i = self.pos + ahead
        return self.text[i] if i < len(self.text) else ""

    def error(self, message: str, variable: str | None = None) -> SubstitutionError:
        return SubstitutionError(message, self.pos, variable)

    def run(self) -> str:
        out: list[str] = []
        text = self.text
        while self.pos < len(text):
            nxt = text.find("$", self.pos)
            if nxt < 0:
                out.append(text[self.pos :])
                break
            out.append(text[self.pos : nxt])
            self.pos = nxt
            after = self.peek(1)
            if after == "$":  # `$$` is an escaped `$`: `$${var}` yields the literal `${var}`
                out.append("$")
                self.pos += 2
            elif after == "{":
                self.pos += 2
                out.append(self.func())
            else:
                out.append("$")
                self.pos += 1
        return "".join(out)

    def ident(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and _is_ident(self.text[self.pos]):
            self.pos += 1
        return self.text[start : self.pos]

    def expect_close(self, message: str = "bad substitution") -> None:
        if self.peek() != "}":
            raise self.error(message)
        self.pos += 1

    def param(self, stop: str, escapes: bool, dollars: bool = True) -> str:
        """Text of a function argument up to (not including) any char in `stop`; nested ${...} allowed.

        `escapes`: `\\/` and `\\\\` stand for `/` and `\\`, and (with `dollars`) `$$` for `$`.
        """
        out: list[str] = []
        while True:
            ch = self.peek()
            if ch == "":
                raise self.error("missing closing brace")
            if ch in stop:
                return "".join(out)
            if ch == "$" and self.peek(1) == "{":
                self.pos += 2
                out.append(self.func())
                continue
            if escapes and ch == "\\" and self.peek(1) in ("/", "\\"):
                out.append(self.peek(1))
                self.pos += 2
                continue
            if escapes and dollars and ch == "$" and self.peek(1) == "$":
                out.append("$")
                self.pos += 2
                continue
            out.append(ch)
            self.pos += 1

    def value(self, name: str, op: str, start: int) -> str:
        value = self.lookup(name)
        if value is None and op not in _DEFAULT_OPS:
            raise SubstitutionError(f"variable not set (strict mode): {name!r}", start, name)
        return value or ""

    def func(self) -> str:
        start = self.pos - 2
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise SubstitutionError(f"expressions nested more than {MAX_NESTING} deep", start)
        try:
            return self.produce(self.evaluate(start), start)
        finally:
            self.depth -= 1

    def evaluate(self, start: int) -> str:
        if self.peek() == "#":  # ${#var}
            self.pos += 1
            name = self.ident()
            if not name:
                raise self.error("bad substitution")
            self.expect_close()
            return str(len(self.value(name, "#", start).encode()))
        name = self.ident()
        if not name:
            raise self.error("unable to parse variable name")
        ch = self.peek()
        if ch == "}":
            self.pos += 1
            return self.value(name, "", start)
        if ch == ":" and self.peek(1) in ("=", "-", "?", "+"):
            return self.default(name, ":" + self.peek(1), 2, start)
        if ch == "=":
            return self.default(name, "=", 1, start)
        if ch == ":":
            self.pos += 1
            self.no_empty_argument(":}")
            offset = self.param(":}", escapes=False)
            args = [offset]
            if self.peek() == ":":
                self.pos += 1
                self.no_empty_argument("}")
                args.append(self.param("}", escapes=False))
            self.expect_close()
            return _substr(self.value(name, ":", start), args)
        if ch in (",", "^"):
            op = self.operator(ch)
            self.expect_close()
            value = self.value(name, op, start)
            if op == "^":
                return value[:1].upper() + value[1:]
            if op == "^^":
                return value.upper()
            if op == ",":
                return value[:1].lower() + value[1:]
            return value.lower()
        if ch in ("#", "%"):
            op = self.operator(ch)
            self.no_empty_argument("}")
            # Flux scans a trim pattern without escapes: `$$` stays `$$`; its glob match (a fork of Go's
            # path.Match) reads `\/` as `/` and `\\` as `\`, as the unescaping here does.
            pattern = self.param("}", escapes=True, dollars=False)
            self.expect_close()
            value = self.value(name, op, start)
            if len(value) > MAX_PATTERN_VALUE_CHARS:
                raise SubstitutionError(f"variable {name!r} is {len(value)} characters long: too long to trim "
                                        f"with a pattern offline (limit {MAX_PATTERN_VALUE_CHARS})", start, None)
            return _trim(value, op, pattern)
        if ch == "/":
            self.pos += 1
            op = "/"
            if self.peek() in ("/", "#", "%"):
                op += self.peek()
                self.pos += 1
            pattern = "" if self.peek() == "/" else self.param("/}", escapes=True)
            if self.peek() != "/":
                raise self.error("bad substitution")
            self.pos += 1
            replacement = "" if self.peek() == "}" else self.param("}", escapes=True)
            self.expect_close()
            value = self.value(name, op, start)
            if op == "//" and pattern:
                self.check_size(len(value) + value.count(pattern) * len(replacement), start)  # before building it
            return _replace(value, op, pattern, replacement)
        raise self.error("missing closing brace")

    def no_empty_argument(self, stop: str) -> None:
        """Flux's parseParam fails on an empty argument (`${v:}`, `${v::2}`, `${v:1:}`, `${v#}`, end of text)."""
        if self.peek() in stop:  # "" (the end of the text) is in every `stop`
            raise self.error("unable to parse substitution within function")

    def operator(self, ch: str) -> str:
        """Consume the operator `ch` at the cursor, or its doubled form (`^^`, `,,`, `##`, `%%`)."""
        self.pos += 1
        if self.peek() == ch:
            self.pos += 1
            return ch + ch
        return ch

    def default(self, name: str, op: str, width: int, start: int) -> str:
        self.pos += width
        parts: list[str] = []
        while self.peek() != "}":
            parts.append(self.param("}", escapes=False))
        self.pos += 1
        value = self.value(name, op, start)
        return value if value else "".join(parts)


_ATOI = re.compile(r"[+-]?[0-9]+")


def _atoi(text: str) -> int | None:
    """Go's strconv.Atoi: optional sign and ASCII digits only (no spaces, no `_`), within int64."""
    if not _ATOI.fullmatch(text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


def _substr(value: str, args: list[str]) -> str:
    # An offset or length Go cannot parse (`${v: -3}`, `${v:1_0}`) leaves the value whole, as Flux does.
    pos = _atoi(args[0])
    if pos is None:
        return value
    if pos < 0:
        pos = max(0, len(value) + pos)
    if len(args) == 1:
        return value[pos:]
    length = _atoi(args[1])
    if length is None:
        return value
    if length < 0:
        end = len(value) + length
        return "" if end < pos else value[pos:end]
    return value[pos : pos + length]


def _trim(value: str, op: str, pattern: str) -> str:
    if op in ("%", "%%"):
        return _trim(value[::-1], "#" if op == "%" else "##", pattern[::-1])[::-1]
    # prefixes from longest to shortest; Flux's trimShortest keeps the last (shortest) match
    matches = [i for i in range(len(value), 0, -1) if fnmatch.fnmatchcase(value[:i], pattern)]
    if not matches:
        return value
    cut = matches[0] if op == "##" else matches[-1]
    return value[cut:]


def _replace(value: str, op: str, pattern: str, replacement: str) -> str:
    if op == "//":
        return value.replace(pattern, replacement)
    if op == "/":
        return value.replace(pattern, replacement, 1)
    if op == "/#":
        return replacement + value[len(pattern) :] if value.startswith(pattern) else value
    return value[: len(value) - len(pattern)] + replacement if value.endswith(pattern) else value


def envsubst(text: str, lookup: Lookup) -> str:
    """Evaluate every `${...}` in `text`; raise SubstitutionError on bad syntax or an unset variable."""
    if "$" not in text:
        return text
    return _Parser(text, lookup).run()


def line_of_offset(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


# ---------------------------------------------------------------- variables of a Flux Kustomization


@dataclass
class Variables:
    """The variables of one Flux Kustomization and whether a Secret supplies unknown ones."""

    values: dict[str, str] = field(default_factory=dict)
    # Names of Secrets we may not read: any variable they might hold gets a placeholder instead of an error.
    opaque_secrets: list[str] = field(default_factory=list)

    def lookup(self, name: str) -> str | None:
        if name in self.values:
            return self.values[name]
        if self.opaque_secrets:
            return "placeholder-" + name.lower().replace("_", "-")
        return None

    def active(self) -> bool:
        # Flux skips substitution when it has no variables at all (kustomize_varsub.go: `if len(vars) > 0`).
        return bool(self.values) or bool(self.opaque_secrets)


def disabled(obj: dict[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    if not isinstance(meta, dict):
        return False
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    return (isinstance(labels, dict) and labels.get(DISABLED_KEY) == "disabled") or (
        isinstance(annotations, dict) and annotations.get(DISABLED_KEY) == "disabled"
    )


@dataclass
class SubstituteRef:
    kind: str
    name: str
    optional: bool
    line: int


def collect_variables(
    post_build: dict[str, Any] | None,
    namespace: str,
    find_object: Callable[[str, str, str], dict[str, Any] | None],
    where: Callable[[tuple[Any, ...]], tuple[str, int]],
    cluster: str | None,
) -> tuple[Variables, list[Finding]]:
    """Variables for a Kustomization's postBuild; `find_object(kind, namespace, name)` searches the cluster.

    `where(keys)` maps a key path inside `postBuild` (("substituteFrom", 0)) to (file, line) for findings.
    """
    findings: list[Finding] = []
    variables = Variables()
    if not isinstance(post_build, dict):
        return variables, findings

    def report(severity: Severity, rule: str, message: str, keys: tuple[Any, ...]) -> None:
        file, at = where(keys)
        findings.append(
            Finding(rule=rule, severity=severity, message=message, cluster=cluster, file=file, line=at)
        )

    refs = post_build.get("substituteFrom") or []
    for i, ref in enumerate(refs if isinstance(refs, list) else []):
        line = ("substituteFrom", i)
        if not isinstance(ref, dict) or ref.get("kind") not in ("ConfigMap", "Secret") or not ref.get("name"):
            report(
                Severity.ERROR,
                "flux/substitute-from-invalid",
                f"substituteFrom[{i}] needs kind ConfigMap or Secret and a name",
                line,
            )
            continue
        kind, name, optional = str(ref["kind"]), str(ref["name"]), bool(ref.get("optional", False))
        obj = find_object(kind, namespace, name)
        if kind == "Secret":
            if obj is None:
                # Secrets usually come from outside git (External Secrets, SOPS): never guess their values.
                variables.opaque_secrets.append(name)
                report(
                    Severity.INFO,
                    "flux/substitute-from-secret",
                    f"substituteFrom Secret {namespace}/{name} is not in the repository: variables it may "
                    "hold get placeholder values",
                    line,
                )
                continue
            keys = list((obj.get("data") or {}).keys()) + list((obj.get("stringData") or {}).keys())
            for key in keys:
                variables.values[str(key)] = "placeholder-" + str(key).lower().replace("_", "-")
            continue
        if obj is None:
            if not optional:
                report(
                    Severity.ERROR,
                    "flux/substitute-from-missing",
                    f"substituteFrom ConfigMap {namespace}/{name} is not rendered by any Flux Kustomization "
                    "of this cluster (Flux fails the reconciliation; mark it optional: true if intended)",
                    line,
                )
            continue
        data = obj.get("data") or {}
        if isinstance(data, dict):
            for key, value in data.items():
                variables.values[str(key)] = ("" if value is None else str(value)).replace("\n", "")
    inline = post_build.get("substitute") or {}
    if isinstance(inline, dict):
        for key, value in inline.items():
            variables.values[str(key)] = ("" if value is None else str(value)).replace("\n", "")
    for key in list(variables.values):
        if not VAR_NAME.match(key):
            report(
                Severity.ERROR,
                "flux/substitute-invalid-name",
                f"variable name '{key}' is invalid (Flux requires {VAR_NAME.pattern})",
                ("substitute",),
            )
            del variables.values[key]
    return variables, findings


@dataclass
class Substituted:
    """The result of substituting one object: the new object, or an error (with its line in the text)."""

    obj: dict[str, Any] | None = None
    error: str | None = None
    line: int = 0
    variable: str | None = None  # set when the error is an unset variable


def substitute_text(text: str, variables: Variables, loader: type) -> Substituted:
    """Substitute one object's YAML text and parse it again; `obj` is None when nothing changed."""
    try:
        output = envsubst(text, variables.lookup)
    except SubstitutionError as exc:
        return Substituted(error=exc.message, line=line_of_offset(text, exc.offset), variable=exc.variable)
    if output == text:
        return Substituted()
    try:
        # A value can carry anchors and aliases (`{a: &a [x,x], b: &b [*a,*a], ...}` on one line): the same
        # alias budgets as for files apply to the substituted text, before it is built.
        yamlio.check_alias_expansion(output)
    except yamlio.LimitError as exc:
        return Substituted(error=f"after substitution: {exc}", line=exc.line)
    except yaml.YAMLError:
        pass  # reported with its line by the load below
    # the compiled parser where it reads the text exactly as the loader would (render.PlainLoader says so)
    fast, obj = (
        fastyaml.load_edited(text, output) if getattr(loader, "fastyaml_equivalent", False) else (False, None)
    )
    try:
        if not fast:
            obj = yaml.load(output, Loader=loader)  # noqa: S506 - a safe loader is passed in
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        return Substituted(
            error=f"after substitution the object is not valid YAML: {problem}",
            line=(mark.line + 1) if mark else 1,
        )
    except Exception as exc:  # noqa: BLE001 - PyYAML constructors raise more than YAMLError (`!!int` of "")
        return Substituted(error=f"after substitution the object is not valid YAML: {exc!r}", line=1)
    if not isinstance(obj, dict):
        return Substituted(error="after substitution the object is no longer a mapping", line=1)
    return Substituted(obj=obj)
