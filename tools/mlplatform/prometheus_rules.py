"""PrometheusRules of a rendered cluster, checked by the real promtool.

- `promtool check rules` on the rule groups of every rendered PrometheusRule (what the Prometheus Operator
  hands Prometheus), each problem reported at the rule's line in the source file;
- `promtool test rules` on every unit-test file (rule_tests.py) whose rule files this cluster renders, with
  the rendered groups in place of the source file: a failing test or a rule that fails to evaluate on the
  test's series (e.g. many-to-many matching) is an error;
- every alert needs a unit test where it fires and one where it stays silent (pure Python: it runs without
  promtool too).

Only a real Prometheus proves that the metrics exist with the labels the tests assume; see
docs/layers/observability.md.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import rule_tests
from .context import ClusterContext
from .errors import InputError
from .model import Finding, Manifest, Severity
from .promtool import Promtool
from .provenance import field_line
from .render import SourceCache
from .rule_tests import UnitTestFile

RULE_CHECK = "promtool/check-rules"
RULE_TEST = "promtool/test-rules"
RULE_UNTESTED = "promtool/untested-alert"
RULE_UNAVAILABLE = "promtool/unavailable"
API_GROUP = "monitoring.coreos.com"
MAX_OUTPUT = 800

_FILE_LINE = re.compile(r"^(?P<file>[^\s:]+): (?:\d+:\d+: )?(?P<message>.+)$")
_RULE_PROBLEM = re.compile(
    r'^group "(?P<group>(?:[^"\\]|\\.)*)", rule (?P<number>\d+), "(?P<name>(?:[^"\\]|\\.)*)": (?P<detail>.*)$'
)
_GROUP_PROBLEM = re.compile(r'group(?:name)?:? "(?P<group>(?:[^"\\]|\\.)*)"')
_FIELD = re.compile(r'^(?P<kind>annotation|label) "(?P<key>[^"]+)"')


@dataclass
class RenderedRule:
    manifest: Manifest
    groups: list[Any]

    @property
    def source(self) -> str:
        return self.manifest.source.file

    def rules(self) -> list[tuple[int, int, dict[str, Any]]]:
        """(group index, rule index, rule) of every rule that is a mapping."""
        found = []
        for gi, group in enumerate(self.groups):
            rules = group.get("rules") if isinstance(group, dict) else None
            for ri, rule in enumerate(rules if isinstance(rules, list) else []):
                if isinstance(rule, dict):
                    found.append((gi, ri, rule))
        return found

    def alerts(self) -> list[tuple[int, int, str]]:
        return [(gi, ri, rule["alert"]) for gi, ri, rule in self.rules() if isinstance(rule.get("alert"), str)]

    def line_of(self, path: str) -> int:
        return field_line(self.manifest, path)

    def finding(self, rule: str, line: int, message: str) -> Finding:
        found = Finding.on(self.manifest, rule, Severity.ERROR, message)
        found.line = line
        return found


def rendered_rules(manifests: list[Manifest]) -> list[RenderedRule]:
    """PrometheusRules with a list of groups (a malformed spec is schema validation's to report)."""
    found = []
    for manifest in manifests:
        ref = manifest.ref
        if ref.kind != "PrometheusRule" or ref.group != API_GROUP:
            continue
        spec = manifest.obj.get("spec")
        groups = spec.get("groups") if isinstance(spec, dict) else None
        if isinstance(groups, list):
            found.append(RenderedRule(manifest, groups))
    return found


def check_cluster(ctx: ClusterContext, cache: SourceCache, promtool: Promtool | None) -> list[Finding]:
    rules = rendered_rules(ctx.manifests)
    if not rules:
        return []
    units = rule_tests.discover(ctx.repo, cache)
    findings = coverage(rules, units)
    if promtool is None:
        first = rules[0].manifest
        findings.append(
            Finding.on(
                first,
                RULE_UNAVAILABLE,
                Severity.WARNING,
                f"no promtool: the {len(rules)} PrometheusRule(s) of cluster {ctx.cluster} and their unit tests "
                "were not checked; `make check` provides promtool, or set MLPLATFORM_PROMTOOL",
            )
        )
        return findings
    with tempfile.TemporaryDirectory(prefix="mlplatform-promtool-") as scratch:
        problems = check_rules(promtool, rules, Path(scratch) / "check", ctx.repo)
        findings += problems
        # A rule file promtool cannot load fails every test of it with the same message: test the others.
        broken = {f.file for f in problems}
        testable = [rule for rule in rules if rule.source not in broken]
        findings += run_unit_tests(promtool, ctx.repo, cache, testable, units, Path(scratch), skip=broken)
    return findings


# ---------------------------------------------------------------- promtool check rules


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80] or "_"


def check_rules(
    promtool: Promtool, rules: list[RenderedRule], directory: Path, repo: Path | None = None
) -> list[Finding]:
    directory.mkdir(parents=True)
    files: dict[str, RenderedRule] = {}
    for index, rule in enumerate(rules):
        ref = rule.manifest.ref
        name = f"{index:03d}-{_safe(ref.namespace or '')}-{_safe(ref.name)}.rules.yaml"
        (directory / name).write_text(yaml.safe_dump({"groups": rule.groups}, sort_keys=False))
        files[name] = rule
    proc = promtool.run(["check", "rules", *files], directory, repo)
    if proc.returncode == 0:
        return []
    findings = []
    for line in proc.stdout.splitlines():
        match = _FILE_LINE.match(line.strip())
        if match and match.group("file") in files:
            findings.append(_rule_problem(files[match.group("file")], match.group("message")))
    if not findings:  # promtool failed in a way it did not attribute to a file
        findings.append(rules[0].finding(RULE_CHECK, rules[0].manifest.source.line, _tail(proc.stdout)))
    return findings


def _rule_problem(rule: RenderedRule, message: str) -> Finding:
    """A promtool problem at the line of the rule (and field) it names."""
    match = _RULE_PROBLEM.match(message)
    if match is None:
        group = _GROUP_PROBLEM.search(message)
        index = _group_index(rule, group.group("group")) if group else None
        line = rule.line_of(f"spec.groups[{index}].name") if index is not None else rule.manifest.source.line
        return rule.finding(RULE_CHECK, line, f"promtool check rules: {message}")
    group_name, number, detail = match.group("group"), int(match.group("number")), match.group("detail")
    gi = _group_index(rule, group_name)
    path = f"spec.groups[{gi}].rules[{number - 1}]" if gi is not None else ""
    if path:
        field = _FIELD.match(detail)
        if field:
            key = '"' + field.group("key").replace("\\", "\\\\").replace('"', '\\"') + '"'
            path += f".{field.group('kind')}s[{key}]"
        elif "expression" in detail or "expr" in detail:
            path += ".expr"
    line = rule.line_of(path) if path else rule.manifest.source.line
    return rule.finding(
        RULE_CHECK, line, f"promtool check rules: group {group_name!r}, rule {number} ({match.group('name')}): {detail}"
    )


def _group_index(rule: RenderedRule, name: str) -> int | None:
    for index, group in enumerate(rule.groups):
        if isinstance(group, dict) and str(group.get("name")) == name:
            return index
    return None


def _tail(output: str) -> str:
    text = " ".join(output.split())
    return "promtool: " + (text if len(text) <= MAX_OUTPUT else "..." + text[-MAX_OUTPUT:])


# ---------------------------------------------------------------- promtool test rules


def _holds_prometheus_rules(repo: Path, cache: SourceCache, path: str) -> bool:
    docs = cache.documents(repo / path)
    if isinstance(docs, InputError):
        return False
    return any(isinstance(d.data, dict) and d.data.get("kind") == "PrometheusRule" for d in docs)


def run_unit_tests(
    promtool: Promtool,
    repo: Path,
    cache: SourceCache,
    rules: list[RenderedRule],
    units: list[UnitTestFile],
    scratch: Path,
    skip: set[str | None] | None = None,
) -> list[Finding]:
    """Run each unit-test file whose rule files this cluster renders; files naming a `skip` source are not run."""
    by_source: dict[str, list[RenderedRule]] = {}
    for rule in rules:
        by_source.setdefault(rule.source, []).append(rule)
    findings: list[Finding] = []
    for number, unit in enumerate(units):
        problems = _reference_problems(repo, cache, unit)
        if problems:
            findings += problems
            continue
        if any(ref.path in (skip or set()) for ref in unit.rule_files):
            continue
        if not all(ref.path in by_source for ref in unit.rule_files):
            continue  # this cluster does not render the rules the file tests
        root = scratch / f"test-{number}"
        for ref in unit.rule_files:
            assert ref.path is not None  # _reference_problems reported the others
            target = root / ref.path
            target.parent.mkdir(parents=True, exist_ok=True)
            groups = [g for rule in by_source[ref.path] for g in rule.groups]
            target.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        copy = root / unit.file
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes((repo / unit.file).read_bytes())  # verbatim: promtool's line numbers stay ours
        proc = promtool.run(["test", "rules", unit.file], root, repo)
        if proc.returncode == 0:
            continue
        tested = [rule for ref in unit.rule_files for rule in by_source[ref.path or ""]]
        findings += _test_failures(unit, proc.stdout, tested)
    return findings


def _reference_problems(repo: Path, cache: SourceCache, unit: UnitTestFile) -> list[Finding]:
    problems = []
    if not unit.rule_files:
        problems.append(_unit_finding(unit, unit.line, "rule_files names no PrometheusRule source file"))
    for ref in unit.rule_files:
        if ref.path is None:
            message = (
                f"rule_files entry {ref.entry!r} must be a path relative to the test file, inside the repository, "
                "without globs"
            )
        elif not (repo / ref.path).is_file():
            message = f"rule_files entry {ref.entry!r}: {ref.path} does not exist"
        elif not _holds_prometheus_rules(repo, cache, ref.path):
            message = f"rule_files entry {ref.entry!r}: {ref.path} holds no PrometheusRule"
        else:
            continue
        problems.append(_unit_finding(unit, ref.line, message))
    return problems


def _unit_finding(unit: UnitTestFile, line: int, message: str) -> Finding:
    return Finding(rule=RULE_TEST, severity=Severity.ERROR, message=message, file=unit.file, line=line)


def _test_failures(unit: UnitTestFile, output: str, tested: list[RenderedRule]) -> list[Finding]:
    findings = []
    failed_rules: set[str] = set()
    for failure in rule_tests.parse_test_output(unit, output):
        if failure.rule:
            if failure.rule in failed_rules:
                continue  # one finding per rule that fails to evaluate, not one per test group
            failed_rules.add(failure.rule)
        located = _find_rule(tested, failure.rule) if failure.rule else None
        if located is not None:
            rule, gi, ri = located
            findings.append(
                rule.finding(
                    RULE_TEST,
                    rule.line_of(f"spec.groups[{gi}].rules[{ri}].expr"),
                    f"{failure.message} ({unit.file}:{failure.line})",
                )
            )
        else:
            findings.append(_unit_finding(unit, failure.line, failure.message))
    if not findings:
        findings.append(_unit_finding(unit, unit.line, _tail(output)))
    return findings


def _find_rule(rules: list[RenderedRule], name: str | None) -> tuple[RenderedRule, int, int] | None:
    for rule in rules:
        for gi, ri, body in rule.rules():
            if name in (body.get("alert"), body.get("record")):
                return rule, gi, ri
    return None


# ---------------------------------------------------------------- every alert tested both ways


def coverage(rules: list[RenderedRule], units: list[UnitTestFile]) -> list[Finding]:
    findings = []
    for rule in rules:
        tests = [t for u in units if any(r.path == rule.source for r in u.rule_files) for t in u.alert_tests]
        fires = {t.alertname for t in tests if t.fires}
        silent = {t.alertname for t in tests if not t.fires}
        for gi, ri, name in rule.alerts():
            missing = [what for what, seen in (("fires", fires), ("stays silent", silent)) if name not in seen]
            if not missing:
                continue
            findings.append(
                rule.finding(
                    RULE_UNTESTED,
                    rule.line_of(f"spec.groups[{gi}].rules[{ri}].alert"),
                    f"alert {name} has no promtool unit test where it {' and none where it '.join(missing)}: add "
                    f"an alert_rule_test for it (exp_alerts set, and empty) to a test file whose rule_files names "
                    f"{rule.source} (docs/layers/observability.md)",
                )
            )
    return findings
