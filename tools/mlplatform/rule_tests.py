"""promtool unit-test files of the repository: finding them, reading what they test, reading promtool's verdict.

A unit-test file is any YAML file of the repository whose single document has `rule_files` and `tests` (the
format of `promtool test rules`). Its `rule_files` name, relative to the test file, the source files of
PrometheusRule objects (e.g. `../gpu-alerts.yaml`); `mlplatform check` puts each rendered object's rule
groups at that path in a scratch copy, so promtool's line numbers still point into the test file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .hygiene import iter_yaml_files
from .render import SourceCache, rel
from .yamlio import LineDict, LineList

GLOB_CHARS = re.compile(r"[*?\[]")
_DURATION = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "y": 31_536_000_000}


def duration_ms(text: Any) -> int | None:
    """A Prometheus duration ("3h10m", "0s", "90s") in milliseconds; None when it is not one."""
    value = str(text).strip()
    if not value:
        return None
    total, position = 0, 0
    for match in _DURATION.finditer(value):
        if match.start() != position:
            return None
        total += int(match.group(1)) * _UNIT_MS[match.group(2)]
        position = match.end()
    return total if position == len(value) else None


@dataclass
class AlertTest:
    """One alert_rule_test entry: which alert, when, whether it expects the alert to fire, and where."""

    alertname: str
    eval_ms: int | None
    fires: bool
    group: int  # index in `tests`
    line: int


@dataclass
class RuleFileRef:
    entry: str  # as written in rule_files
    path: str | None  # repository-relative source file, None when it leaves the repository
    line: int


@dataclass
class UnitTestFile:
    file: str  # repository-relative
    line: int
    data: LineDict
    rule_files: list[RuleFileRef] = field(default_factory=list)
    alert_tests: list[AlertTest] = field(default_factory=list)
    group_names: list[str | None] = field(default_factory=list)
    group_lines: list[int] = field(default_factory=list)


def is_unit_test(data: Any) -> bool:
    return isinstance(data, dict) and "rule_files" in data and "tests" in data


def discover(repo: Path, cache: SourceCache) -> list[UnitTestFile]:
    """Every promtool unit-test file of the repository (the files hygiene walks; fixtures are not among them).

    Each cluster's check asks, at the same time: the first walks, the others wait for its answer. Files are
    told apart on the fast parse (no line numbers, which cost more than the walk); only the few unit-test
    files are read again with line numbers."""
    return list(cache.once(("rule_tests.discover", repo), lambda: _discover(repo, cache)))


def _discover(repo: Path, cache: SourceCache) -> list[UnitTestFile]:
    found: list[UnitTestFile] = []
    for path in iter_yaml_files(repo, []):
        fast = cache.fast_documents(path)
        if isinstance(fast, InputError):
            continue  # hygiene reports it
        if sum(d.data is not None for d in fast) != 1 or not any(is_unit_test(d.data) for d in fast):
            continue
        docs = cache.documents(path)  # the same documents as the fast parse, with line numbers
        objects = [] if isinstance(docs, InputError) else [d for d in docs if d.data is not None]
        if len(objects) == 1 and isinstance(objects[0].data, LineDict):
            found.append(read(repo, path, objects[0].data, objects[0].line))
    return found


def read(repo: Path, path: Path, data: LineDict, line: int) -> UnitTestFile:
    unit = UnitTestFile(file=rel(repo, path), line=line, data=data)
    entries = data.get("rule_files")
    if isinstance(entries, LineList):
        for index, entry in enumerate(entries):
            entry_line = entries.item_lines[index] if index < len(entries.item_lines) else line
            unit.rule_files.append(RuleFileRef(str(entry), _repo_path(repo, path.parent, str(entry)), entry_line))
    groups = data.get("tests")
    if isinstance(groups, LineList):
        for gi, group in enumerate(groups):
            group_line = groups.item_lines[gi] if gi < len(groups.item_lines) else line
            unit.group_lines.append(group_line)
            unit.group_names.append(str(group["name"]) if isinstance(group, dict) and "name" in group else None)
            cases = group.get("alert_rule_test") if isinstance(group, dict) else None
            if not isinstance(cases, LineList):
                continue
            for ci, case in enumerate(cases):
                if not isinstance(case, dict) or not isinstance(case.get("alertname"), str):
                    continue
                unit.alert_tests.append(
                    AlertTest(
                        alertname=case["alertname"],
                        eval_ms=duration_ms(case.get("eval_time", "")),
                        fires=bool(case.get("exp_alerts")),
                        group=gi,
                        line=cases.item_lines[ci] if ci < len(cases.item_lines) else group_line,
                    )
                )
    return unit


def _repo_path(repo: Path, base: Path, entry: str) -> str | None:
    """The repository-relative path of a rule_files entry; None for a glob, an absolute path or one that
    leaves the repository (the scratch copy mirrors repository paths only)."""
    if not entry or GLOB_CHARS.search(entry) or Path(entry).is_absolute():
        return None
    relative = os.path.normpath(os.path.relpath(base / entry, repo))
    if relative == "." or relative.startswith(".."):
        return None
    return Path(relative).as_posix()


# ---------------------------------------------------------------- promtool's verdict on one test file

_GROUP = re.compile(r"^\s{4}name: (?P<name>.*),\s*$")
_ALERT = re.compile(r"^\s{4}alertname: (?P<alert>[^,]*), time: (?P<time>[^,]*),")
_EXPR = re.compile(r'^\s{4}expr: "(?P<expr>.*)", time: (?P<time>[^,]*),')
_RULE_ERROR = re.compile(r"^\s{4}rule: (?P<rule>.*?), time: (?P<time>[^,]*), err: (?P<err>.*)$")
MAX_DETAIL = 600


@dataclass
class TestFailure:
    """One failure promtool printed: an alert or expression test that did not match, or a rule that errs."""

    message: str
    line: int  # in the test file
    rule: str | None = None  # a rule that failed to evaluate (its name), to be shown where it is defined


def _squash(lines: list[str]) -> str:
    text = " ".join(part.strip() for part in lines if part.strip())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 3] + "..."


def parse_test_output(unit: UnitTestFile, output: str) -> list[TestFailure]:
    """The failures in `promtool test rules` output (format of promtool 2.x), located in the test file."""
    failures: list[TestFailure] = []
    group_name: str | None = None
    current: TestFailure | None = None
    detail: list[str] = []

    def close() -> None:
        nonlocal current, detail
        if current is not None:
            if detail:
                current.message += ": " + _squash(detail)
            failures.append(current)
        current, detail = None, []

    for raw in output.splitlines():
        if match := _GROUP.match(raw):
            close()
            group_name = match.group("name")
        elif match := _ALERT.match(raw):
            close()
            alert, when = match.group("alert"), match.group("time")
            current = TestFailure(
                f"unit test {_group_label(group_name)}: alert {alert} at {when} is not as expected",
                _alert_line(unit, group_name, alert, duration_ms(when)),
            )
        elif match := _EXPR.match(raw):
            close()
            current = TestFailure(
                f"unit test {_group_label(group_name)}: expression {match.group('expr')!r} at "
                f"{match.group('time')} is not as expected",
                _group_line(unit, group_name),
            )
        elif match := _RULE_ERROR.match(raw):
            # promtool prints no test-group name before a rule's evaluation error
            close()
            group_name = None
            failures.append(
                TestFailure(
                    f"rule {match.group('rule')} fails to evaluate at {match.group('time')} on the series of a "
                    f"unit test: {match.group('err')}",
                    unit.line,
                    rule=match.group("rule"),
                )
            )
        elif current is not None:
            detail.append(raw)
    close()
    return failures


def _group_label(name: str | None) -> str:
    return repr(name) if name else "(unnamed)"


def _group_index(unit: UnitTestFile, name: str | None) -> int | None:
    if name is None:
        return None
    for index, candidate in enumerate(unit.group_names):
        if candidate == name:
            return index
    return None


def _group_line(unit: UnitTestFile, name: str | None) -> int:
    index = _group_index(unit, name)
    return unit.group_lines[index] if index is not None else unit.line


def _alert_line(unit: UnitTestFile, group_name: str | None, alert: str, eval_ms: int | None) -> int:
    index = _group_index(unit, group_name)
    candidates = [t for t in unit.alert_tests if t.alertname == alert and (index is None or t.group == index)]
    exact = [t for t in candidates if t.eval_ms == eval_ms]
    chosen = (exact or candidates)[:1]
    return chosen[0].line if chosen else _group_line(unit, group_name)

