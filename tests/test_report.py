"""Every output format parses, follows its contract, escapes hostile text and is deterministic."""

from __future__ import annotations

import json
import random
import re
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from mlplatform.errors import ToolError
from mlplatform.model import Finding, ObjectRef, Severity
from mlplatform.report import FORMATS, escape_github_property, format_findings

SARIF_SCHEMA = Path(__file__).resolve().parent / "data" / "sarif-schema-2.1.0.json"
HOSTILE = 'bad: a|b <x> & "q" 100%\r\nnext, line: `code` *star* [link](u) \x1b[31m'


def sample() -> list[Finding]:
    deployment = ObjectRef("apps/v1", "Deployment", "inference", "vllm")
    return [
        Finding(
            "schema",
            Severity.ERROR,
            "spec.template.spec.containers[0].resourcez: unknown field",
            "production",
            "apps/base/inference/vllm/deployment.yaml",
            12,
            deployment,
        ),
        Finding(
            "schema",
            Severity.WARNING,
            "no schema for Gadget example.com/v1",
            "staging",
            "apps/staging/gadget.yaml",
            3,
            ObjectRef("example.com/v1", "Gadget", None, "g"),
        ),
        Finding("yaml", Severity.ERROR, HOSTILE, None, "dir with space/odd,name:x.yaml", None, None),
        Finding("flux", Severity.INFO, "graph has 3 Kustomizations", "production", None, None, None),
    ]


# ---------------------------------------------------------------- json


def test_json_matches_the_contract_exactly():
    doc = json.loads(format_findings(sample(), "json"))
    assert set(doc) == {"findings", "summary"}
    assert doc["summary"]["errors"] == 2 and doc["summary"]["warnings"] == 1
    assert {"errors", "warnings"} <= set(doc["summary"])
    for item in doc["findings"]:
        assert set(item) == {"rule", "severity", "message", "cluster", "clusters", "file", "line", "object"}
        assert item["severity"] in ("error", "warning", "info")
        if item["object"] is not None:
            assert set(item["object"]) == {"apiVersion", "kind", "namespace", "name"}
    first = next(f for f in doc["findings"] if f["file"] == "apps/base/inference/vllm/deployment.yaml")
    assert first == {
        "rule": "schema",
        "severity": "error",
        "message": "spec.template.spec.containers[0].resourcez: unknown field",
        "cluster": "production",
        "clusters": ["production"],
        "file": "apps/base/inference/vllm/deployment.yaml",
        "line": 12,
        "object": {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "inference", "name": "vllm"},
    }
    hostile = next(f for f in doc["findings"] if f["rule"] == "yaml")
    assert hostile["message"] == HOSTILE  # JSON carries text exactly; its own escaping makes it safe


def test_json_info_is_a_top_level_key():
    doc = json.loads(
        format_findings([], "json", info={"kustomize": "kubectl 1.32", "clusters": ["production"]})
    )
    assert doc == {
        "findings": [],
        "summary": {"errors": 0, "warnings": 0, "infos": 0},
        "info": {"kustomize": "kubectl 1.32", "clusters": ["production"]},
    }


# ---------------------------------------------------------------- sarif


def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("findings", [sample(), []], ids=["findings", "empty"])
def test_sarif_is_valid_against_the_official_schema(findings):
    doc = json.loads(format_findings(findings, "sarif", info={"rules": {"schema": "Kubernetes schema"}}))
    errors = [f"{list(e.path)}: {e.message}" for e in sarif_validator().iter_errors(doc)]
    assert errors == []
    assert doc["version"] == "2.1.0"


def test_sarif_rules_locations_and_levels():
    doc = json.loads(
        format_findings(sample(), "sarif", info={"rules": {"schema": {"title": "Schema", "rationale": "r"}}})
    )
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["flux", "schema", "yaml"]
    assert rules[1]["shortDescription"]["text"] == "Schema" and rules[1]["fullDescription"]["text"] == "r"
    levels = {}
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        levels.setdefault(result["ruleId"], set()).add(result["level"])
        for location in result.get("locations", []):
            physical = location.get("physicalLocation")
            if physical:
                uri = physical["artifactLocation"]["uri"]
                parsed = urllib.parse.urlsplit(uri)
                assert (
                    not parsed.scheme and not uri.startswith("/") and " " not in uri
                )  # relative URI reference
                assert physical["region"]["startLine"] >= 1
    assert levels == {"schema": {"error", "warning"}, "yaml": {"error"}, "flux": {"note"}}
    uris = {
        urllib.parse.unquote(loc["physicalLocation"]["artifactLocation"]["uri"])
        for r in run["results"]
        for loc in r.get("locations", [])
        if "physicalLocation" in loc
    }
    assert "dir with space/odd,name:x.yaml" in uris


# ---------------------------------------------------------------- junit


def test_junit_parses_with_a_suite_per_cluster_and_failures_for_errors():
    text = format_findings(sample(), "junit", info={"clusters": ["production", "staging", "dev"]})
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert sorted(suites) == ["dev", "production", "repository", "staging"]
    assert suites["dev"].find("testcase").get("name") == "no findings"
    assert suites["production"].get("failures") == "1" and suites["staging"].get("failures") == "0"
    total_failures = sum(int(s.get("failures")) for s in suites.values())
    assert total_failures == int(root.get("failures")) == 2
    assert int(root.get("tests")) == sum(len(s.findall("testcase")) for s in suites.values())
    failure = suites["repository"].find("testcase/failure")
    # XML escaping round-trips everything except characters XML 1.0 cannot carry at all
    assert failure.get("message") == HOSTILE.replace("\x1b", "\ufffd")
    assert (
        suites["staging"].find("testcase/system-out").text.startswith("apps/staging/gadget.yaml:3: warning")
    )


# ---------------------------------------------------------------- github annotations

_COMMAND = re.compile(r"^::(error|warning|notice)(?: ([^:]*))?::(.*)$")


def _unescape(text: str) -> str:
    return (
        text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
    )


def test_github_lines_parse_and_round_trip():
    lines = format_findings(sample(), "github").splitlines()
    commands = [_COMMAND.match(line) for line in lines[:-1]]
    assert all(commands), lines
    assert lines[-1] == "2 errors, 1 warning, 1 info"
    parsed = []
    for match in commands:
        props = dict(p.split("=", 1) for p in match.group(2).split(",")) if match.group(2) else {}
        parsed.append(
            (match.group(1), {k: _unescape(v) for k, v in props.items()}, _unescape(match.group(3)))
        )
    hostile = next(p for p in parsed if p[1].get("file") == "dir with space/odd,name:x.yaml")
    assert hostile[0] == "error" and hostile[1]["title"] == "yaml"
    assert hostile[2] == HOSTILE.replace("\x1b", "\\x1b")  # only the terminal escape is neutralised
    deployment = next(p for p in parsed if p[1].get("line") == "12")
    assert deployment[1]["title"] == "schema [production, Deployment inference/vllm]"
    assert {p[0] for p in parsed} == {"error", "warning", "notice"}


def test_github_property_escaping():
    assert escape_github_property("a,b:c%d\ne") == "a%2Cb%3Ac%25d%0Ae"


# ---------------------------------------------------------------- markdown and text


def _cells(row: str) -> list[str]:
    assert row.startswith("| ") and row.endswith(" |")
    return re.split(r"(?<!\\)\|", row[1:-1])


def test_markdown_table_rows_keep_their_columns():
    text = format_findings(sample(), "markdown")
    lines = text.splitlines()
    assert lines[0] == "### mlplatform: 2 errors, 1 warning, 1 info"
    rows = [line for line in lines if line.startswith("|")]
    assert len(rows) == 2 + 4  # header, separator, one row per finding
    assert all(len(_cells(row)) == 6 for row in rows)
    hostile = next(row for row in rows if "odd,name" in row)
    assert "<x>" not in hostile and "&lt;x&gt;" in hostile and "<br>" in hostile and "\x1b" not in hostile
    assert "\\[link\\]" in hostile and "\\`code\\`" in hostile


def test_text_lines_and_summary():
    lines = format_findings(sample(), "text").splitlines()
    assert lines[-1] == "2 errors, 1 warning, 1 info"
    assert (
        "apps/base/inference/vllm/deployment.yaml:12: error schema: "
        "spec.template.spec.containers[0].resourcez: unknown field [production, Deployment inference/vllm]"
    ) in lines
    assert len(lines) == 5  # a hostile message stays on one line
    assert not any("\x1b" in line or "\r" in line for line in lines)


# ---------------------------------------------------------------- all formats


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_is_deterministic(fmt):
    findings = sample()
    shuffled = findings[:]
    random.Random(7).shuffle(shuffled)
    assert format_findings(findings, fmt) == format_findings(shuffled, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_findings(fmt):
    text = format_findings([], fmt, info={"clusters": ["production"]})
    assert text.endswith("\n")
    if fmt == "junit":
        assert ET.fromstring(text.encode("utf-8")).get("failures") == "0"
    elif fmt in ("json", "sarif"):
        json.loads(text)
    else:
        assert "0 errors, 0 warnings" in text


def test_unknown_format_is_a_tool_error():
    with pytest.raises(ToolError, match="unknown output format 'yaml'"):
        format_findings([], "yaml")


def test_markdown_puts_errors_first_and_bounds_the_table():
    findings = [
        Finding("r", Severity.WARNING if i % 2 else Severity.ERROR, f"m{i}", "c", f"f{i:03d}.yaml", 1, None)
        for i in range(250)
    ]
    lines = format_findings(findings, "markdown").splitlines()
    rows = [line for line in lines[2:] if line.startswith("| ")][2:]
    assert len(rows) == 200
    assert all(_cells(row)[0].strip() == "error" for row in rows[:125])
    assert lines[-1] == "... and 50 more (see the full report)."
