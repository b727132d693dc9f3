"""Helpers for the rule tests: good and bad YAML per rule, against a frozen pool file and the policies.

Layout: tests/rules/fixtures/<name>/{good,bad}.yaml, <name> being the rule id after its category
(`policy/ha-pdb` -> ha-pdb/; the catalog keeps names unique). Every object named `bad-*` in bad.yaml must get at
least one finding of the rule; good.yaml must get none. tests/test_admission.py reads the same files. The
pools are the frozen fixtures/node-pools.yaml, or <rule-id>/node-pools.yaml where a rule keeps its own.

A cross-layer rule, which reads Terraform too, uses directories instead: <rule-id>/{good,bad}/ each hold
manifests.yaml and a small repository tree (terraform/environments/production/*.tf, ...) that the rule sees
as the repository; objects in applied-by/<name>.yaml are those the Flux Kustomization <name> applies.
"""

from __future__ import annotations

from pathlib import Path

from mlplatform import suppress
from mlplatform.catalog import load_catalog
from mlplatform.config import Config
from mlplatform.context import ClusterContext
from mlplatform.model import Finding, Manifest
from mlplatform.pools import load_pool_file
from mlplatform.provenance import SourceProvenance
from mlplatform.rules import RULES_BY_ID, load_policy, run_rules_with
from mlplatform.yamlio import load_documents, plain

RULE_FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]


def load_fixture(path: Path, flux_kustomization: str | None = None) -> list[Manifest]:
    """The objects of one fixture file as rendered manifests (with their source document, as check has)."""
    rel = path.relative_to(REPO).as_posix()
    return [
        # The source document rides along, as in `check`, so a rule can name a field's line (field_line).
        Manifest("production", plain(doc.data), SourceProvenance(rel, doc.line, flux_kustomization, doc.data))
        for doc in load_documents(path)
        if isinstance(doc.data, dict)
    ]


def load_tree(tree: Path) -> list[Manifest]:
    """A cross-layer fixture's objects: manifests.yaml, then applied-by/<name>.yaml, whose objects the Flux
    Kustomization <name> applies (Provenance.flux_kustomization, as the render records it)."""
    manifests = load_fixture(tree / "manifests.yaml") if (tree / "manifests.yaml").is_file() else []
    for path in sorted((tree / "applied-by").glob("*.yaml")):
        manifests += load_fixture(path, flux_kustomization=path.stem)
    return manifests


def make_context(
    manifests: list[Manifest], pool_file: Path | None = None, repo: Path | None = None
) -> ClusterContext:
    pools = load_pool_file(pool_file or RULE_FIXTURES / "node-pools.yaml", REPO)
    return ClusterContext(
        repo=repo or REPO,
        config=Config(repo=repo or REPO),
        cluster="production",
        manifests=manifests,
        pool_file=pools,
        catalog=load_catalog(),
    )


def run_rule(
    rule_id: str, manifests: list[Manifest], pool_file: Path | None = None, repo: Path | None = None
) -> list[Finding]:
    assert rule_id in RULES_BY_ID, rule_id
    ctx = make_context(manifests, pool_file, repo)
    found = run_rules_with(ctx, load_policy(REPO, "production"), only={rule_id})
    # As in `check`: exemption annotations are applied by the reporting layer, for every rule.
    suppress.mark_annotated(found, manifests)
    return [f for f in found if f.suppression is None]


def fixture_dir(rule_id: str) -> Path:
    return RULE_FIXTURES / rule_id.split("/", 1)[-1]


def fixture_pool_file(rule_id: str) -> Path | None:
    """A rule whose fixtures need pools the frozen file lacks (EFA pools, ...) keeps a node-pools.yaml of its own."""
    own = fixture_dir(rule_id) / "node-pools.yaml"
    return own if own.is_file() else None


def fixture_findings(rule_id: str, which: str) -> tuple[list[Manifest], list[Finding]]:
    tree = fixture_dir(rule_id) / which
    pools = fixture_pool_file(rule_id)
    if tree.is_dir():  # a cross-layer fixture: manifests plus the repository tree the rule reads
        manifests = load_tree(tree)
        return manifests, run_rule(rule_id, manifests, pool_file=pools, repo=tree)
    manifests = load_fixture(fixture_dir(rule_id) / f"{which}.yaml")
    return manifests, run_rule(rule_id, manifests, pool_file=pools)


def check_good_and_bad(rule_id: str) -> list[Finding]:
    """The contract of every rule: good.yaml is clean, each bad-* object has a finding; returns bad's."""
    _, good = fixture_findings(rule_id, "good")
    assert good == [], [f.message for f in good]
    manifests, bad = fixture_findings(rule_id, "bad")
    flagged = {f.object.name for f in bad if f.object}
    expected = {m.ref.name for m in manifests if m.ref.name.startswith("bad-")}
    assert expected, f"{rule_id}/bad.yaml has no bad-* object"
    assert expected <= flagged, f"not flagged: {sorted(expected - flagged)}"
    assert all(f.rule == rule_id and f.file and f.line for f in bad)
    return bad
