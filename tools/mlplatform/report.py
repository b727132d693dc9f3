"""Findings to text, json, sarif, junit, github annotations and markdown.

Every format is deterministic (findings sorted) and escapes what could break it: XML special and control
characters, workflow-command separators, Markdown table pipes and HTML.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from . import __version__
from .errors import ToolError
from .model import Finding, Severity
from .yamlio import mapping

FORMATS = ("text", "json", "sarif", "junit", "github", "markdown")
TOOL_NAME = "mlplatform"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
MARKDOWN_MAX_ROWS = 200
_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
# XML 1.0 forbids these even when escaped; a message quoting a binary file must not break the report.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Control characters (ANSI escapes above all) would let a quoted file rewrite the reader's terminal or log.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def format_findings(
    findings: list[Finding],
    fmt: str,
    *,
    info: dict[str, Any] | None = None,
    suppressed: list[Finding] | None = None,
) -> str:
    """Render findings; `info` carries run facts (tool version, kustomize version, clusters, counts).

    `suppressed`: findings an exemption covers (suppress.py). They never count; JSON lists them under
    "suppressed" (only when there are some, so the usual document keeps its contract), SARIF reports them
    as results with `suppressions` (kind and justification), text and GitHub say how many in the summary.

    Recognised `info` keys: "clusters" (names checked, so JUnit lists clean clusters too) and "rules"
    ({id: title or {"title": ..., "rationale": ...}}, used for SARIF rule descriptions). Everything in
    `info` is also copied into the JSON output's top-level "info".
    """
    formatter = _FORMATTERS.get(fmt.lower())
    if formatter is None:
        raise ToolError(f"unknown output format {fmt!r} (known: {', '.join(FORMATS)})")
    info = dict(info or {})
    if suppressed:
        info["_suppressed"] = sort_findings(suppressed)
    return formatter(sort_findings(findings), info)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=_sort_key)


def _sort_key(f: Finding) -> tuple[str, int, str, int, str, str, tuple[str, str, str, str]]:
    obj = f.object
    return (
        f.file or "",
        f.line or 0,
        f.cluster or "",
        _SEVERITY_ORDER.get(f.severity, 9),
        f.rule,
        f.message,
        (obj.api_version, obj.kind, obj.namespace or "", obj.name) if obj else ("", "", "", ""),
    )


def counts(findings: list[Finding]) -> dict[str, int]:
    return {
        "errors": sum(f.severity == Severity.ERROR for f in findings),
        "warnings": sum(f.severity == Severity.WARNING for f in findings),
        "infos": sum(f.severity == Severity.INFO for f in findings),
    }


def summary_line(findings: list[Finding]) -> str:
    c = counts(findings)
    parts = [_plural(c["errors"], "error"), _plural(c["warnings"], "warning")]
    if c["infos"]:
        parts.append(_plural(c["infos"], "info", "infos"))
    return ", ".join(parts)


def _summary(findings: list[Finding], info: dict[str, Any]) -> str:
    """The summary line, saying how many warnings a --min-severity / --quiet threshold left out (routine infos
    are left out by default and not counted here: docs/architecture.md lists them)."""
    line = summary_line(findings)
    if info.get("_suppressed"):
        line += f" ({_plural(len(info['_suppressed']), 'finding')} suppressed by exemptions: --format json lists them)"
    hidden = mapping(info.get("hidden"))
    warnings = hidden.get("warnings", 0)
    return line + (f" ({_plural(warnings, 'warning')} not shown: --min-severity warning shows them)"
                   if warnings else "")


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _where(f: Finding) -> str:
    if not f.file:
        return "(no file)"
    return f"{f.file}:{f.line}" if f.line else f.file


def _clusters(f: Finding) -> str:
    """The clusters a finding was made in, "production, staging" for a mistake in a shared file."""
    return ", ".join(f.all_clusters)


def _context(f: Finding) -> str:
    parts = [p for p in (_clusters(f), str(f.object) if f.object else None) if p]
    return f" [{', '.join(parts)}]" if parts else ""


# ---------------------------------------------------------------- text and json


def text_line(f: Finding) -> str:
    """One finding as `check` prints it (and every command that prints findings): file:line: severity rule:
    message [clusters, object]."""
    return _one_line(f"{_where(f)}: {f.severity.value} {f.rule}: {f.message}{_context(f)}")


def _text(findings: list[Finding], info: dict[str, Any]) -> str:
    lines = [text_line(f) for f in findings]
    lines.append(_summary(findings, info))
    return "\n".join(lines) + "\n"


def visible(text: str) -> str:
    """Control characters (other than newlines and tabs) shown as \\xNN instead of being emitted raw."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _one_line(text: str) -> str:
    return visible(text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", " | "))


def _json(findings: list[Finding], info: dict[str, Any]) -> str:
    c = counts(findings)
    document: dict[str, Any] = {
        "findings": [f.to_json() for f in findings],
        "summary": {"errors": c["errors"], "warnings": c["warnings"], "infos": c["infos"]},
    }
    suppressed = info.get("_suppressed") or []
    if suppressed:
        document["suppressed"] = [
            {**f.to_json(), "suppression": f.suppression.to_json() if f.suppression else None} for f in suppressed
        ]
    shown = _public(info)
    if shown:
        document["info"] = shown
    return json.dumps(document, indent=2, sort_keys=False, default=str, ensure_ascii=False) + "\n"


def _public(info: dict[str, Any]) -> dict[str, Any]:
    """The run facts without the keys format_findings adds for the formatters."""
    return {k: v for k, v in info.items() if not k.startswith("_")}


# ---------------------------------------------------------------- SARIF 2.1.0


_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _rule_meta(rule: str, info: dict[str, Any]) -> dict[str, str]:
    meta = (info.get("rules") or {}).get(rule)
    if isinstance(meta, str):
        return {"title": meta}
    return {k: str(v) for k, v in meta.items()} if isinstance(meta, dict) else {}


def _fingerprint(f: Finding) -> str:
    """Stable across line moves, so code scanning tracks one alert while the file around it changes."""
    obj = f.object
    key = "\x1f".join(
        [
            f.rule,
            ",".join(f.all_clusters),
            f.file or "",
            f.message,
            f"{obj.api_version}/{obj.kind}/{obj.namespace or ''}/{obj.name}" if obj else "",
        ]
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _sarif_rule(rule: str, info: dict[str, Any]) -> dict[str, Any]:
    """A `reportingDescriptor` from the catalog (an id the catalog lacks falls back to info["rules"])."""
    from . import rulecatalog

    spec = rulecatalog.spec(rule)
    if spec is None:
        meta = _rule_meta(rule, info)
        entry: dict[str, Any] = {"id": rule, "name": rule, "shortDescription": {"text": meta.get("title") or rule}}
        if meta.get("rationale"):
            entry["fullDescription"] = {"text": meta["rationale"]}
        return entry
    exempt = (
        f'Exempt one object: annotation `{spec.annotation}: "<reason>"`; a file: `.mlplatform.yaml` '
        "`rules.exemptions`."
        if spec.exemptable
        else f"Cannot be exempted: {spec.not_exemptable}."
    )
    return {
        "id": spec.id,
        "name": spec.name,
        "shortDescription": {"text": spec.title},
        "fullDescription": {"text": spec.rationale},
        "help": {
            "text": f"{spec.rationale}\n\nRemediation: {spec.remediation}\n\n{exempt.replace('`', '')}",
            "markdown": f"{spec.rationale}\n\n**Remediation:** {spec.remediation}\n\n{exempt}",
        },
        "helpUri": rulecatalog.help_uri(spec.id),
        "defaultConfiguration": {"level": _SARIF_LEVEL.get(spec.severity, "warning")},
        "properties": {"category": spec.category, "tags": [spec.category], "exemptable": spec.exemptable},
    }


def _sarif(findings: list[Finding], info: dict[str, Any]) -> str:
    suppressed: list[Finding] = info.get("_suppressed") or []
    info = _public(info)
    rule_ids = sorted({f.rule for f in [*findings, *suppressed]})
    rules = [_sarif_rule(rule, info) for rule in rule_ids]
    results = []
    for f in [*findings, *suppressed]:
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": rule_ids.index(f.rule),
            "level": _SARIF_LEVEL.get(f.severity, "warning"),
            "message": {"text": f.message or f.rule},
            "partialFingerprints": {"mlplatformFinding/v1": _fingerprint(f)},
        }
        location: dict[str, Any] = {}
        if f.file:
            location["physicalLocation"] = {
                "artifactLocation": {"uri": urllib.parse.quote(f.file, safe="/"), "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": max(int(f.line or 1), 1)},
            }
        if f.object:
            obj = f.object
            location["logicalLocations"] = [
                {
                    "name": obj.name or obj.kind,
                    "fullyQualifiedName": "/".join(
                        p for p in (obj.api_version, obj.kind, obj.namespace, obj.name) if p
                    ),
                    "kind": "object",
                }
            ]
        if location:
            result["locations"] = [location]
        if f.cluster:
            result["properties"] = {"cluster": f.cluster, "clusters": list(f.all_clusters)}
        if f.suppression is not None:
            # SARIF 2.1.0 §3.35: a suppressed result stays in the log; viewers hide it and show why.
            result["suppressions"] = [
                {"kind": f.suppression.kind, "status": "accepted", "justification": f.suppression.justification}
            ]
        results.append(result)
    driver: dict[str, Any] = {
        "name": TOOL_NAME,
        "version": str(info.get("version") or __version__),
        "rules": rules,
    }
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The repository root."}}},
        "results": results,
    }
    if info:
        run["properties"] = {"info": json.loads(json.dumps(info, default=str))}
    document = {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- JUnit XML


def _xml_text(text: Any) -> str:
    return _XML_ILLEGAL.sub("\ufffd", str(text))


def _junit(findings: list[Finding], info: dict[str, Any]) -> str:
    # One suite per cluster; a finding in a shared file goes to the suite of all its clusters together,
    # so each finding is one test case and the failure count is the error count.
    by_suite: dict[str, list[Finding]] = {str(c): [] for c in info.get("clusters") or []}
    found_in = {c for f in findings for c in f.all_clusters}
    by_suite = {name: items for name, items in by_suite.items() if name not in found_in}
    for f in findings:
        by_suite.setdefault(_clusters(f) or "repository", []).append(f)
    c = counts(findings)
    root = ET.Element("testsuites", name=TOOL_NAME, tests="0", failures=str(c["errors"]), errors="0")
    total = 0
    for suite_name in sorted(by_suite):
        suite_findings = by_suite[suite_name]
        suite = ET.SubElement(root, "testsuite", name=_xml_text(suite_name))
        if not suite_findings:
            ET.SubElement(
                suite, "testcase", classname=_xml_text(f"{TOOL_NAME}.{suite_name}"), name="no findings"
            )
        for f in suite_findings:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=_xml_text(f"{TOOL_NAME}.{suite_name}.{f.rule}"),
                name=_xml_text(f"{_where(f)} {f.object or ''}".strip()),
            )
            if f.file:
                case.set("file", _xml_text(f.file))
            if f.line:
                case.set("line", str(f.line))
            detail = _xml_text(f"{_where(f)}: {f.severity.value} {f.rule}: {f.message}{_context(f)}")
            if f.severity == Severity.ERROR:
                failure = ET.SubElement(case, "failure", message=_xml_text(f.message), type=_xml_text(f.rule))
                failure.text = detail
            else:  # warnings and infos do not fail the build; they stay visible in the test output
                ET.SubElement(case, "system-out").text = detail
        cases = max(len(suite_findings), 1)
        total += cases
        suite.set("tests", str(cases))
        suite.set("failures", str(sum(f.severity == Severity.ERROR for f in suite_findings)))
        suite.set("errors", "0")
        suite.set("skipped", "0")
    root.set("tests", str(total))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ---------------------------------------------------------------- GitHub workflow commands


_GITHUB_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_github_data(text: str) -> str:
    """Escape a workflow command's message (the runner's own escaping: %, CR, LF)."""
    return visible(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_github_property(text: str) -> str:
    """Escape a workflow command property value: the message escapes plus `:` and `,`."""
    return escape_github_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(findings: list[Finding], info: dict[str, Any]) -> str:
    lines = []
    for f in findings:
        props = []
        if f.file:
            props.append(f"file={escape_github_property(f.file)}")
            if f.line:
                props.append(f"line={int(f.line)}")
        props.append(f"title={escape_github_property(f'{f.rule}{_context(f)}')}")
        lines.append(
            f"::{_GITHUB_COMMAND.get(f.severity, 'warning')} {','.join(props)}::"
            f"{escape_github_data(f.message)}"
        )
    lines.append(_summary(findings, info))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- Markdown (pull-request comments)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~!])")


def escape_markdown_cell(text: Any) -> str:
    """A value safe inside a GitHub-flavoured Markdown table cell: no pipes, HTML or formatting leaks."""
    value = visible(str(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = _MD_SPECIAL.sub(r"\\\1", value)
    return value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def _markdown(findings: list[Finding], info: dict[str, Any]) -> str:
    lines = [f"### {TOOL_NAME}: {_summary(findings, info)}", ""]
    if not findings:
        lines.append("No findings.")
        return "\n".join(lines) + "\n"
    lines += [
        "| Severity | Rule | Cluster | Object | Location | Message |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    # A pull-request comment holds at most 65,536 characters: errors first, then a bounded table.
    ordered = sorted(findings, key=lambda f: (_SEVERITY_ORDER.get(f.severity, 9), _sort_key(f)))
    for f in ordered[:MARKDOWN_MAX_ROWS]:
        cells = [
            f.severity.value,
            f.rule,
            _clusters(f),
            str(f.object) if f.object else "",
            _where(f),
            f.message,
        ]
        lines.append("| " + " | ".join(escape_markdown_cell(c) for c in cells) + " |")
    if len(ordered) > MARKDOWN_MAX_ROWS:
        lines += ["", f"... and {len(ordered) - MARKDOWN_MAX_ROWS} more (see the full report)."]
    return "\n".join(lines) + "\n"


_FORMATTERS: dict[str, Callable[[list[Finding], dict[str, Any]], str]] = {
    "text": _text,
    "json": _json,
    "sarif": _sarif,
    "junit": _junit,
    "github": _github,
    "markdown": _markdown,
}
