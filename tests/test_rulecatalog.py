"""The rule catalog (tools/mlplatform/rulecatalog.py) and the reporting layer built on it (suppress.py):
every id declared once in one style, every emitted id in the catalog, docs/rules.md generated from it, SARIF
rule entries from it, and exemptions of every category reported as suppressed in JSON and SARIF."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from helpers import REPO_ROOT, run_cli
from mlplatform import rulecatalog, suppress
from mlplatform.errors import InputError
from mlplatform.model import Finding, ObjectRef, Severity

ID_STYLE = re.compile(r"^[a-z]+/[a-z0-9]+(-[a-z0-9]+)*$")
SARIF_SCHEMA = Path(__file__).resolve().parent / "data" / "sarif-schema-2.1.0.json"
TOOL = REPO_ROOT / "tools" / "mlplatform"
# Kubernetes: the name part of an annotation key is at most 63 characters.
MAX_KEY_NAME = 63


def catalog_json() -> list[dict[str, Any]]:
    proc = run_cli("rules", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["rules"]


# ---------------------------------------------------------------- the catalog itself


def test_every_id_has_one_style_a_unique_name_and_the_texts_a_reader_needs() -> None:
    specs = rulecatalog.specs()
    assert len(specs) > 100  # every emitter's ids, not only the policy rules
    names = [s.name for s in specs.values()]
    assert len(names) == len(set(names))
    for spec in specs.values():
        assert ID_STYLE.match(spec.id), spec.id
        assert spec.category in rulecatalog.CATEGORIES
        assert spec.title and spec.rationale and spec.remediation, spec.id
        assert spec.exemptable or spec.not_exemptable, spec.id
        assert len(spec.annotation.split("/", 1)[1]) <= MAX_KEY_NAME, spec.annotation


def test_rules_json_has_a_description_and_a_remediation_for_every_id() -> None:
    rows = catalog_json()
    assert [r["id"] for r in rows] == list(rulecatalog.specs())
    for row in rows:
        assert row["description"].strip() and row["remediation"].strip(), row["id"]
        assert row["help_uri"].endswith("#" + rulecatalog.anchor(row["id"]))
        assert (row["exemption"] is None) == (not row["exemptable"])


def _emitted_literals() -> dict[str, str]:
    """Every string constant in the tool's source that has the shape of a finding id -> where it is."""
    categories = "|".join(rulecatalog.CATEGORIES)
    shape = re.compile(rf"^({categories})/[a-z0-9]+(-[a-z0-9]+)*$")
    found: dict[str, str] = {}
    for path in sorted(TOOL.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and shape.match(node.value):
                found.setdefault(node.value, f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    return found


def test_every_id_literal_in_the_tool_is_declared() -> None:
    literals = _emitted_literals()
    assert len(literals) > 40
    unknown = {i: where for i, where in literals.items() if i not in rulecatalog.specs()}
    assert unknown == {}


@pytest.mark.xdist_group("rulecatalog")
def test_every_finding_the_fixtures_produce_is_in_rules_json(crd_schemas: Path) -> None:
    """All policy-rule fixtures, all pool-file fixtures and `check` over this repository and the small Flux
    repository: every id found is one `rules --format json` lists (the session-wide recorder in
    idrecorder.py extends this to every finding the whole suite sees)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent / "rules"))
    from rulekit import RULE_FIXTURES, fixture_findings

    from mlplatform.catalog import load_catalog
    from mlplatform.pool_rules import check_pool_file
    from mlplatform.pools import load_pool_file
    from mlplatform.rules import RULES

    seen: set[str] = set()
    for rule in RULES:
        if (RULE_FIXTURES / rule.ID.split("/", 1)[1]).is_dir():
            for which in ("good", "bad"):
                seen.update(f.rule for f in fixture_findings(rule.ID, which)[1])
    catalog = load_catalog()
    for path in sorted((REPO_ROOT / "tests" / "fixtures" / "pools").glob("*.yaml")):
        try:
            seen.update(f.rule for f in check_pool_file(load_pool_file(path, REPO_ROOT), catalog))
        except InputError:
            seen.add("pool/file-invalid")  # what check reports for a file that does not load
    for repo in (REPO_ROOT, REPO_ROOT / "tests" / "fixtures" / "repos" / "flux-basic"):
        proc = run_cli("check", "--repo", str(repo), "--format", "json", "--min-severity", "info",
                       "--schema-location", str(crd_schemas))
        assert proc.returncode in (0, 1), proc.stderr
        seen.update(f["rule"] for f in json.loads(proc.stdout)["findings"])
    listed = {r["id"] for r in catalog_json()}
    assert len(seen) > 40
    assert seen - listed == set()


def test_docs_rules_md_is_generated_from_the_catalog() -> None:
    proc = run_cli("rules", "--format", "markdown")
    assert proc.returncode == 0, proc.stderr
    assert (REPO_ROOT / "docs" / "rules.md").read_text() == proc.stdout, (
        "docs/rules.md drifted: run `mlplatform rules --format markdown > docs/rules.md`"
    )
    for spec in rulecatalog.specs().values():
        assert f"\n### {spec.id}\n" in proc.stdout


# ---------------------------------------------------------------- the reporting layer, as functions

DEPLOYMENT = ObjectRef("apps/v1", "Deployment", "inference", "vllm")


def test_settings_errors_name_the_line() -> None:
    from mlplatform.yamlio import load_documents

    text = "rules:\n  exemptions:\n    - rule: policy/ha-pdb\n      file: x.yaml\n      reason: ''\n"
    for body, needle in [
        (text, "a reason is required"),
        ("rules:\n  disabled: [policy/nope]\n", "is not a rule id"),
        ("rules:\n  severity: {policy/ha-pdb: fatal}\n", "expected error, warning or info"),
        ("rules:\n  disabled: [policy/exemption-reason]\n", "cannot be exempted"),
        ("rules:\n  ignore: []\n", "unknown key"),
    ]:
        data = next(d.data for d in _docs(body, load_documents))
        with pytest.raises(InputError) as caught:
            suppress.parse_settings(data["rules"], ".mlplatform.yaml", data.line_of("rules"))
        assert needle in caught.value.message and caught.value.file == ".mlplatform.yaml"
        assert caught.value.line and caught.value.line >= 1


def _docs(body: str, load_documents: Any) -> list[Any]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_text(body)
        return list(load_documents(path))


def test_disable_override_and_file_exemption_apply_to_any_rule() -> None:
    settings = suppress.RuleSettings(
        disabled=frozenset({"policy/ha-pdb"}),
        severity={"policy/ha-zone-spread": Severity.WARNING},
        exemptions=(suppress.FileExemption("pool/disk-zones", "small test nodes", file="terraform/*/node-pools.yaml"),),
    )
    findings = [
        Finding("policy/ha-pdb", Severity.ERROR, "m", "production", "a.yaml", 1, DEPLOYMENT),
        Finding("policy/ha-zone-spread", Severity.ERROR, "m", "production", "a.yaml", 1, DEPLOYMENT),
        Finding("pool/disk-zones", Severity.ERROR, "m", "production", "terraform/production/node-pools.yaml", 9),
        Finding("pool/disk-zones", Severity.ERROR, "m", "staging", "clusters/staging/node-pools.yaml", 9),
    ]
    active, suppressed = suppress.apply(findings, settings)
    assert [(f.rule, f.severity) for f in active] == [
        ("policy/ha-zone-spread", Severity.WARNING), ("pool/disk-zones", Severity.ERROR)]
    assert [(f.rule, f.file) for f in suppressed] == [("pool/disk-zones", "terraform/production/node-pools.yaml")]
    assert suppressed[0].suppression is not None and suppressed[0].suppression.kind == "external"
    assert suppressed[0].suppression.justification == "small test nodes"


# ---------------------------------------------------------------- one exemption per category, end to end

VLLM = "apps/base/inference/vllm/deployment.yaml"
VLLM_SCALER = "apps/base/inference/vllm/scaledobject.yaml"
TRITON = "apps/base/inference/triton/deployment.yaml"
TRITON_SCALER = "apps/base/inference/triton/scaledobject.yaml"
POOL_FILE = "terraform/environments/production/node-pools.yaml"
APPS = "clusters/production/apps.yaml"
REASONS = {
    "policy/priority-class": "reason: policy exemption",
    "schema/invalid": "reason: schema exemption",
    "capacity/constraint": "reason: capacity exemption",
    "pool/disk-zones": "reason: pool exemption",
    "flux/depends-on-missing": "reason: flux exemption",
}


def _edit_yaml(path: Path, change: Any) -> None:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    doc = yaml.load(path.read_text())
    change(doc)
    with path.open("w") as fh:
        yaml.dump(doc, fh)


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def _annotate(name: str, reason: str) -> Any:
    def change(doc: Any) -> None:
        doc["metadata"].setdefault("annotations", {})[f"{rulecatalog.EXEMPT_PREFIX}{name}"] = reason

    return change


@pytest.fixture(scope="module")
def exempted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository with one fault per category, each exempted: policy, schema and capacity by
    annotations on the objects, pool and flux (findings in files, not on objects) in .mlplatform.yaml."""
    from helpers import copy_repo

    repo = copy_repo(tmp_path_factory.mktemp("exempted"))
    # policy: a PriorityClass name the workload type does not allow
    _replace(repo / VLLM, "priorityClassName: production-inference", "priorityClassName: production-inferenc")
    _edit_yaml(repo / VLLM, _annotate("priority-class", REASONS["policy/priority-class"]))
    # schema: a misspelt ScaledObject field
    _replace(repo / VLLM_SCALER, "  maxReplicaCount: 8", "  maxReplicaCont: 8")
    _edit_yaml(repo / VLLM_SCALER, _annotate("invalid", REASONS["schema/invalid"]))

    # capacity: a required anti-affinity Triton's pool cannot honour at 12 replicas
    def anti_affinity(doc: Any) -> None:
        doc["spec"]["template"]["spec"]["affinity"] = {"podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app.kubernetes.io/name": "triton"}},
                 "topologyKey": "kubernetes.io/hostname"}]}}
        _annotate("constraint", REASONS["capacity/constraint"])(doc)

    _edit_yaml(repo / TRITON, anti_affinity)
    _edit_yaml(repo / TRITON_SCALER, lambda doc: doc["spec"].__setitem__("maxReplicaCount", 12))
    # pool: a root volume below the AMI's need; flux: a dependsOn typo
    _replace(repo / POOL_FILE, "    disk_size_gib: 100\n", "    disk_size_gib: 10\n")
    _replace(repo / APPS, "    - name: infra-configs", "    - name: infra-config")
    with (repo / ".mlplatform.yaml").open("a") as fh:
        fh.write(
            "rules:\n  exemptions:\n"
            f"    - rule: pool/disk-zones\n      file: terraform/environments/*/node-pools.yaml\n"
            f"      reason: '{REASONS['pool/disk-zones']}'\n"
            f"    - rule: flux/depends-on-missing\n      file: {APPS}\n"
            f"      reason: '{REASONS['flux/depends-on-missing']}'\n"
        )
    return repo


def _check(repo: Path, fmt: str, crd_schemas: Path) -> tuple[int, str]:
    proc = run_cli("check", "--repo", str(repo), "--cluster", "production", "--format", fmt,
                   "--schema-location", str(crd_schemas))
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.returncode, proc.stdout


@pytest.mark.xdist_group("rulecatalog")
def test_one_exemption_per_category_is_suppressed_with_its_reason_in_json(exempted: Path, crd_schemas: Path) -> None:
    _, out = _check(exempted, "json", crd_schemas)
    doc = json.loads(out)
    active = {f["rule"] for f in doc["findings"]}
    suppressed = {f["rule"]: f for f in doc["suppressed"]}
    for rule, reason in REASONS.items():
        assert rule not in active, rule
        assert rule in suppressed, (rule, sorted(suppressed))
        assert suppressed[rule]["suppression"]["justification"] == reason
    assert {suppressed[r]["suppression"]["kind"] for r in ("pool/disk-zones", "flux/depends-on-missing")} == {
        "external"}
    assert {suppressed[r]["suppression"]["kind"] for r in ("policy/priority-class", "schema/invalid")} == {
        "inSource"}
    assert suppressed["pool/disk-zones"]["file"] == POOL_FILE
    # suppressed findings never count
    assert doc["summary"]["errors"] == sum(f["severity"] == "error" for f in doc["findings"])


def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


@pytest.mark.xdist_group("rulecatalog")
def test_sarif_of_check_is_valid_describes_every_rule_and_keeps_suppressed_results(
    exempted: Path, crd_schemas: Path
) -> None:
    _, out = _check(exempted, "sarif", crd_schemas)
    doc = json.loads(out)
    assert [f"{list(e.path)}: {e.message}" for e in sarif_validator().iter_errors(doc)] == []
    run = doc["runs"][0]
    docs_page = (REPO_ROOT / "docs" / "rules.md").read_text()
    for entry in run["tool"]["driver"]["rules"]:
        spec = rulecatalog.spec(entry["id"])
        assert spec is not None, entry["id"]
        assert entry["fullDescription"]["text"] == spec.rationale
        assert spec.remediation in entry["help"]["text"] and spec.remediation in entry["help"]["markdown"]
        assert entry["helpUri"].endswith(f"#{rulecatalog.anchor(spec.id)}") and f"### {spec.id}\n" in docs_page
        assert entry["properties"]["category"] == spec.category
        assert entry["defaultConfiguration"]["level"] in ("error", "warning", "note")
    justifications = {
        r["ruleId"]: r["suppressions"][0] for r in run["results"] if r.get("suppressions")
    }
    for rule, reason in REASONS.items():
        assert justifications[rule]["justification"] == reason
        assert justifications[rule]["kind"] in ("inSource", "external")


@pytest.mark.xdist_group("rulecatalog")
def test_an_empty_reason_does_not_exempt_and_is_reported(crd_schemas: Path, tmp_path: Path) -> None:
    from helpers import copy_repo

    repo = copy_repo(tmp_path)
    _replace(repo / VLLM, "priorityClassName: production-inference", "priorityClassName: production-inferenc")
    _edit_yaml(repo / VLLM, _annotate("priority-class", ""))
    code, out = _check(repo, "json", crd_schemas)
    doc = json.loads(out)
    rules = {(f["rule"], f["file"]) for f in doc["findings"]}
    assert code == 1 and ("policy/priority-class", VLLM) in rules and ("policy/exemption-reason", VLLM) in rules
    assert "suppressed" not in doc


def test_no_rule_says_its_fix_twice() -> None:
    # `mlplatform rules` printed "Fix: ..." inside the rationale and again as the remediation for 9 rules
    from mlplatform import rulecatalog

    for spec in rulecatalog.specs().values():
        assert "Fix:" not in spec.rationale or not spec.remediation, spec.id
        if spec.remediation:
            assert spec.remediation not in spec.rationale, spec.id


def test_no_rule_repeats_its_title_as_its_rationale() -> None:
    # `mlplatform rules` printed "The pool file must hold: <title>" under the title for 21 pool rules
    from mlplatform import rulecatalog

    for spec in rulecatalog.specs().values():
        assert spec.title.lower() not in spec.rationale.lower(), spec.id
