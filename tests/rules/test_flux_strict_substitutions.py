"""Rule flux-strict-substitutions (fixtures in tests/rules/fixtures/flux-strict-substitutions/) and the reader of
the Flux bootstrap it relies on (mlplatform.flux_bootstrap)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rulekit import fixture_findings

from mlplatform.flux_bootstrap import STRICT_SUBSTITUTIONS, flux_release, strict_substitutions
from mlplatform.terraform import load_terraform

ID = "policy/flux-strict-substitutions"
MODULE = "terraform/modules/flux-bootstrap/main.tf"


def test_good_and_bad(good_and_bad):
    good_and_bad(ID)


def test_finding_is_at_the_flux_release_and_names_the_substituting_kustomizations():
    _, findings = fixture_findings(ID, "bad")
    [finding] = findings
    assert (finding.file, finding.line) == (MODULE, 3)  # resource "helm_release" "flux" {
    assert "bad-apps" in finding.message and "plain" not in finding.message
    assert "empty string" in finding.message and "kustomizeController.container.additionalArgs" in finding.message


def _tree(tmp_path: Path, release: str) -> Path:
    env = tmp_path / "terraform/environments/production"
    module = tmp_path / "terraform/modules/flux-bootstrap"
    env.mkdir(parents=True)
    module.mkdir(parents=True)
    (env / "main.tf").write_text('module "flux_bootstrap" {\n  source = "../../modules/flux-bootstrap"\n}\n')
    (module / "main.tf").write_text(release)
    return tmp_path


SET_ENTRIES = """resource "helm_release" "flux" {
  chart = "flux2"
  set = [
    {
      name  = "kustomizeController.container.additionalArgs[0]"
      value = "--feature-gates=StrictPostBuildSubstitutions=true"
    }
  ]
}
"""
HEREDOC = """resource "helm_release" "flux" {
  chart = "flux2"
  values = [<<-EOT
    kustomizeController:
      container:
        additionalArgs:
          - --feature-gates=StrictPostBuildSubstitutions=true
  EOT
  ]
}
"""
TURNED_OFF = """resource "helm_release" "flux" {
  chart = "flux2"
  # StrictPostBuildSubstitutions=true is what we want, but not yet:
  values = [yamlencode({ kustomizeController = { container = {
    additionalArgs = ["--feature-gates=StrictPostBuildSubstitutions=false"] } } })]
}
"""


@pytest.mark.parametrize(
    ("release", "enabled", "line"), [(SET_ENTRIES, True, 6), (HEREDOC, True, 7), (TURNED_OFF, False, 5)]
)
def test_the_gate_is_read_from_values_heredocs_and_set_entries(tmp_path, release, enabled, line):
    repo = _tree(tmp_path, release)
    found = flux_release(load_terraform(repo, "production"))
    assert found is not None and found.enabled(STRICT_SUBSTITUTIONS) is enabled
    assert found.line_of(STRICT_SUBSTITUTIONS) == line  # the flag, not the comment that names the gate
    assert strict_substitutions(repo, "production") == (enabled, f"{MODULE}:{line if enabled else 1}")


def test_without_a_flux2_release_or_terraform_nothing_is_known(tmp_path):
    repo = _tree(tmp_path, 'resource "helm_release" "other" {\n  chart = "flux2-sync"\n}\n')
    assert flux_release(load_terraform(repo, "production")) is None
    assert strict_substitutions(repo, "production") is None
    assert strict_substitutions(repo, "staging") is None  # no terraform/environments/staging


def test_terraform_that_does_not_parse_is_unknown_not_a_crash(tmp_path):
    repo = _tree(tmp_path, 'resource "helm_release" "flux" {\n  chart = \n')
    assert strict_substitutions(repo, "production") is None


def test_the_repository_bootstrap_turns_the_gate_on(repo_root: Path):
    for cluster in ("production", "staging"):
        enabled, where = strict_substitutions(repo_root, cluster)
        assert enabled and where.startswith(MODULE + ":")
