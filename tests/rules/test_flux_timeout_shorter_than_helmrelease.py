"""Rule flux-timeout-shorter-than-helmrelease: fixtures (tests/rules/fixtures/flux-timeout-shorter-than-helmrelease/)
and the timeouts as kustomize-controller v1.8.3 and helm-controller v1.5.3 compute them."""

from __future__ import annotations

import pytest
from rulekit import REPO, fixture_dir, fixture_findings

from mlplatform.rules.flux_timeout_shorter_than_helmrelease import kustomization_timeout, release_time

ID = "policy/flux-timeout-shorter-than-helmrelease"
BAD = fixture_dir(ID) / "bad" / "manifests.yaml"


def _line_of(path, needle: str, after: str) -> int:
    """1-based line of the first `needle` after the line containing `after`."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if after in line)
    return next(i for i, line in enumerate(lines[start:], start) if needle in line) + 1


def test_good_and_bad(good_and_bad):
    good_and_bad(ID)


def test_finding_names_the_release_at_the_timeout_line():
    _, findings = fixture_findings(ID, "bad")
    by_name = {f.object.name: f for f in findings}
    short = by_name["bad-short-timeout"]
    assert short.file == BAD.relative_to(REPO).as_posix()
    assert short.line == _line_of(BAD, "timeout: 5m", "name: bad-short-timeout")
    assert "HelmRelease mesh/control-plane may take 10m" in short.message
    assert "waits at most 5m (spec.timeout)" in short.message and "at least 10m" in short.message


def test_dependency_chain_adds_up_with_the_requeue_interval():
    _, findings = fixture_findings(ID, "bad")
    chain = next(f for f in findings if f.object.name == "bad-chain")
    assert "HelmRelease mesh-viz/viz may take 20m30s" in chain.message
    assert "HelmRelease mesh/control-plane (10m), then up to 30s" in chain.message


def test_without_timeout_the_finding_points_at_the_interval():
    _, findings = fixture_findings(ID, "bad")
    defaulted = next(f for f in findings if f.object.name == "bad-default-timeout")
    assert defaulted.line == _line_of(BAD, "interval: 5m", "name: bad-default-timeout")
    assert "4m30s (no spec.timeout: its interval minus 30s)" in defaulted.message
    assert "HelmRelease tools/small may take 5m" in defaulted.message  # helm-controller's default


def test_health_checks_tests_and_child_kustomizations_count():
    _, findings = fixture_findings(ID, "bad")
    by_name = {f.object.name: f.message for f in findings}
    assert "HelmRelease tools/installer may take 20m" in by_name["bad-health-checks"]
    assert "HelmRelease tools/tested may take 13m" in by_name["bad-tested-upgrade"]
    assert "Kustomization flux-system/child may take 30m" in by_name["bad-parent"]
    assert len(findings) == len(by_name)  # one finding per Kustomization


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"interval": "1h", "timeout": "5m"}, 300.0),
        ({"interval": "10m"}, 570.0),  # interval - 30s
        ({"interval": "40s"}, 30.0),  # never below 30s
        ({"interval": "1h", "timeout": "10s"}, 30.0),
        ({"interval": "1h", "timeout": "1h30m"}, 5400.0),
        ({"interval": "1h", "timeout": "soon"}, None),
        ({}, None),
    ],
)
def test_kustomization_timeout_as_the_controller_computes_it(spec, expected):
    found = kustomization_timeout(spec)
    assert (found[0] if found else None) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, 300.0),
        ({"timeout": "10m"}, 600.0),
        ({"timeout": "2m", "install": {"timeout": "7m"}}, 420.0),
        ({"timeout": "2m", "upgrade": {"timeout": "9m"}}, 540.0),
        ({"timeout": "4m", "test": {"enable": True}}, 480.0),
        ({"timeout": "4m", "test": {"enable": True, "timeout": "1m"}}, 300.0),
        ({"timeout": "4m", "test": {"enable": False, "timeout": "1h"}}, 240.0),
    ],
)
def test_release_time_is_one_attempt(spec, expected):
    assert release_time(spec) == expected
