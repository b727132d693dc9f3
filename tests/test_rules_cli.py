"""`mlplatform rules`: the catalog in every format, and `--placement` against the rendered repository."""

from __future__ import annotations

import json

from helpers import run_cli
from mlplatform import rulecatalog
from mlplatform.rules import RULES, RULES_BY_ID


def test_catalog_lists_every_rule_with_rationale():
    proc = run_cli("rules", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["rules"]
    ids = [r["id"] for r in rows]
    # every id of the catalog, each once; the policy rules among them in their registry order
    assert ids == list(rulecatalog.specs()) and len(ids) == len(set(ids))
    assert [i for i in ids if i.startswith("policy/") and i in RULES_BY_ID] == [r.ID for r in RULES]
    assert all(r["description"] and r["remediation"] and r["severity"] in ("error", "warning", "info") for r in rows)
    fixable = {r["id"] for r in rows if r["fixable"]}
    assert fixable >= {"policy/cpu-tolerates-gpu-taint", "policy/fits-no-pool", "policy/pool-not-allowed"}
    # a GPU count is never changed by a fix: the rules about counts leave the choice to a person
    assert "policy/timeslice-multiple-gpus" not in fixable
    text = run_cli("rules").stdout
    assert all(f"  {i} (" in text for i in ids)
    # by category, in the catalog's order
    headers = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith(" ")][:-1]
    assert headers == list(rulecatalog.CATEGORIES)
    markdown = run_cli("rules", "--format", "markdown").stdout
    assert markdown.startswith("# Rule catalog") and "### policy/gpu-memory-uncapped" in markdown


def test_rule_modules_have_the_contract():
    ids = [r.ID for r in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        # policy/<name>, the name usable as the name part of an annotation key
        category, name = rule.ID.split("/")
        assert category == "policy" and name.replace("-", "").isalnum() and rule.ID == rule.ID.lower()
        assert rule.TITLE and len(rule.RATIONALE) > 80 and callable(rule.check)
        assert rule.__doc__ and rule.__doc__.strip()


def test_placement_shows_where_each_template_can_run(repo_root):
    args = ("--placement", "--cluster", "staging", "--format", "json", "--repo", str(repo_root))
    proc = run_cli("rules", *args)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["placements"]
    assert rows and all(r["cluster"] == "staging" and r["file"] and r["line"] for r in rows)
    for row in rows:
        # Every workload lands somewhere, and every pool it cannot use says why.
        assert row["fits"], row
        assert set(row["fits"]).isdisjoint(row["not"])
    operands = [r for r in rows if r["object"]["kind"] == "HelmRelease"]
    assert any("device-plugin" in r["template"] and "cpu" in r["not"] for r in operands)


def test_placement_on_a_missing_repository_is_a_clean_error(tmp_path):
    proc = run_cli("rules", "--placement", "--repo", str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:") and "Traceback" not in proc.stderr


def test_policy_doc_names_every_admission_policy(repo_root):
    doc = (repo_root / "policies" / "rules.md").read_text()
    for path in (repo_root / "infrastructure/configs/base/admission-policies").glob("*.yaml"):
        if path.name != "kustomization.yaml":
            assert f"`{path.stem}`" in doc, path.stem
