"""The bad-input corpus (tests/fixtures/bad-input/): each problem in a pool file, a policy file or
.mlplatform.yaml is a finding at its file and line, exit 1, in every output format (the routing rule of
docs/architecture.md: exit 2 only when the tool cannot do its job).

A case is a directory of files laid over the base repository (tests/fixtures/repos/flux-basic, the corpus's
_base/ pool file and this repository's policies/). The line at fault carries `# expect: <rule>`, so the
expected file and line come from the case itself. Cases that replace different files are checked together
in one copy (a batch), so that two runs per batch (json, sarif) cover the corpus on a shared 2-core machine.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from helpers import FIXTURES, REPO_ROOT, run_cli

pytestmark = pytest.mark.xdist_group("bad-input-corpus")

CORPUS = FIXTURES / "bad-input"
BASE_REPO = FIXTURES / "repos" / "flux-basic"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith("_"))
EXPECT = re.compile(r"#\s*expect:\s*(\S+)")


def files_of(case: str) -> set[str]:
    return {p.relative_to(CORPUS / case).as_posix() for p in (CORPUS / case).rglob("*") if p.is_file()}


def batches(cases: list[str]) -> list[tuple[str, ...]]:
    """Cases grouped so that no two in a group replace the same file (each keeps its own fault)."""
    groups: list[tuple[list[str], set[str]]] = []
    for case in cases:
        files = files_of(case)
        group = next((g for g in groups if not g[1] & files), None)
        if group is None:
            groups.append(([case], set(files)))
        else:
            group[0].append(case)
            group[1].update(files)
    return [tuple(names) for names, _ in groups]


def build_repo(tmp_path: Path, cases: tuple[str, ...]) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(BASE_REPO, repo)
    shutil.copytree(REPO_ROOT / "policies", repo / "policies")
    shutil.copytree(CORPUS / "_base", repo, dirs_exist_ok=True)
    for case in cases:
        shutil.copytree(CORPUS / case, repo, dirs_exist_ok=True)
    return repo


def expectations(case: str) -> list[tuple[str, str, int]]:
    """(rule, file, line) of every `# expect:` marker in the case's files."""
    found = []
    for path in sorted((CORPUS / case).rglob("*")):
        if path.is_file():
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if match := EXPECT.search(line):
                    found.append((match.group(1), path.relative_to(CORPUS / case).as_posix(), number))
    return found


def check(repo: Path, fmt: str, crd_schemas: Path) -> tuple[int, dict, str]:
    proc = run_cli("check", "--repo", str(repo), "--format", fmt, "--schema-location", str(crd_schemas))
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), f"exit {proc.returncode}: {proc.stderr}"
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def json_locations(report: dict) -> set[tuple[str, str, int]]:
    return {(f["rule"], f["file"], f["line"]) for f in report["findings"]}


def sarif_locations(report: dict) -> set[tuple[str, str, int]]:
    found = set()
    for run in report["runs"]:
        for result in run["results"]:
            for location in result.get("locations", []):
                physical = location.get("physicalLocation", {})
                found.add((result["ruleId"], physical["artifactLocation"]["uri"], physical["region"]["startLine"]))
    return found


def test_every_case_says_what_it_expects() -> None:
    assert len(CASES) >= 15
    kinds = {case.split("-")[0] for case in CASES}
    assert kinds == {"config", "policy", "pool"}
    for case in CASES:
        assert expectations(case), f"{case}: no '# expect: <rule>' marker"


@pytest.fixture(scope="module")
def base_findings(tmp_path_factory: pytest.TempPathFactory, crd_schemas: Path) -> set[tuple[str, str, int]]:
    """What the base repository reports without any fault: a case must add its finding, not find it there."""
    repo = build_repo(tmp_path_factory.mktemp("base"), ())
    _, report, _ = check(repo, "json", crd_schemas)
    return json_locations(report)


def test_batches_keep_every_case_and_never_share_a_file() -> None:
    groups = batches(CASES)
    assert sorted(c for g in groups for c in g) == CASES
    for group in groups:
        files = [f for case in group for f in files_of(case)]
        assert len(files) == len(set(files)), group


@pytest.mark.parametrize("cases", batches(CASES), ids="+".join)
def test_bad_input_is_a_finding_at_its_line_in_json_and_sarif(
    cases: tuple[str, ...], tmp_path: Path, crd_schemas: Path, base_findings: set[tuple[str, str, int]]
) -> None:
    repo = build_repo(tmp_path, cases)
    expected = [wanted for case in cases for wanted in expectations(case)]
    code, report, _ = check(repo, "json", crd_schemas)
    assert code == 1
    for wanted in expected:
        assert wanted not in base_findings, f"the base repository already reports {wanted}"
        assert wanted in json_locations(report), (wanted, sorted(json_locations(report)))
    code, sarif, _ = check(repo, "sarif", crd_schemas)
    assert code == 1
    for wanted in expected:
        assert wanted in sarif_locations(sarif), (wanted, sorted(sarif_locations(sarif)))
