"""An exemption in .mlplatform.yaml that matches no finding is reported (newcomer trial: an entry naming
clusters/<cluster>/node-pools.yaml, where pool files are not, was accepted in silence)."""

from __future__ import annotations

from mlplatform import suppress
from mlplatform.model import Finding, Severity
from mlplatform.suppress import UNUSED_RULE, parse_settings

POOLS = "terraform/environments/production/node-pools.yaml"


def _settings(file_glob: str):  # noqa: ANN202 - suppress.RuleSettings
    return parse_settings(
        {"exemptions": [{"rule": "pool/timeslice-replicas", "file": file_glob, "reason": "accepted here"}]},
        ".mlplatform.yaml", 3,
    )


def _finding() -> Finding:
    return Finding("pool/timeslice-replicas", Severity.ERROR, "replicas 1", file=POOLS, line=55)


def test_a_matching_exemption_suppresses_and_is_not_reported() -> None:
    active, suppressed = suppress.apply([_finding()], _settings("terraform/environments/*/node-pools.yaml"),
                                        report_unused=True)
    assert active == [] and [f.rule for f in suppressed] == ["pool/timeslice-replicas"]


def test_an_exemption_that_matches_nothing_is_a_warning_at_its_line() -> None:
    active, suppressed = suppress.apply([_finding()], _settings("clusters/production/node-pools.yaml"),
                                        report_unused=True)
    assert suppressed == []
    unused = [f for f in active if f.rule == UNUSED_RULE]
    assert [(f.severity, f.file) for f in unused] == [(Severity.WARNING, ".mlplatform.yaml")]
    assert "clusters/production/node-pools.yaml" in unused[0].message
    # the fault itself stays an error: the entry hid nothing
    assert any(f.rule == "pool/timeslice-replicas" for f in active)


def test_a_partial_run_does_not_call_an_exemption_unused() -> None:
    # check --cluster staging cannot know whether a production entry is used
    active, _ = suppress.apply([], _settings("clusters/production/node-pools.yaml"))
    assert active == []
