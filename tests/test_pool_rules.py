"""Pool file rules: each fixture in tests/fixtures/pools/ holds one mistake and the finding it expects."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlplatform.catalog import load_catalog
from mlplatform.errors import InputError
from mlplatform.model import Severity
from mlplatform.pool_rules import RULES, check_pool_file, label_key_problem, label_value_problem
from mlplatform.pools import load_pool_file, pool_file_path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pools"
EXPECT = re.compile(r"^# expect: (?P<rule>[a-z/-]+) (?P<line>\d+)$", re.M)
RULE_FIXTURES = sorted(p for p in FIXTURES.glob("*.yaml") if EXPECT.search(p.read_text()))


def _expected(path: Path) -> set[tuple[str, int]]:
    return {(m["rule"], int(m["line"])) for m in EXPECT.finditer(path.read_text())}


def _findings(path: Path, repo: Path | None = None):
    return check_pool_file(load_pool_file(path, repo), load_catalog())


@pytest.mark.parametrize("cluster", ["production", "staging"])
def test_real_pool_files_have_no_findings(repo_root: Path, cluster: str) -> None:
    findings = _findings(pool_file_path(repo_root, cluster), repo_root)
    assert [f.to_json() for f in findings] == []


def test_valid_fixture_has_no_findings() -> None:
    assert _findings(FIXTURES / "valid.yaml") == []


@pytest.mark.parametrize("path", RULE_FIXTURES, ids=lambda p: p.stem)
def test_fixture_reports_exactly_its_mistake(path: Path) -> None:
    findings = _findings(path)
    got = {(f.rule, f.line) for f in findings}
    assert got == _expected(path), [f.message for f in findings]
    for finding in findings:
        assert finding.file == str(path)
        assert finding.cluster == "fixture"
        assert finding.severity == RULES[finding.rule].severity
        assert finding.message.startswith(("pool ", "kubernetes_version", "cluster", "the pool file"))


def test_every_rule_has_a_fixture() -> None:
    covered = {rule for path in RULE_FIXTURES for rule, _ in _expected(path)}
    assert covered == set(RULES)


def test_only_advice_is_a_warning() -> None:
    # An untainted GPU pool and an unread field are suspicious, not broken; everything else breaks a cluster.
    warnings = {rule for rule, r in RULES.items() if r.severity is Severity.WARNING}
    assert warnings == {"pool/gpu-taint", "pool/unknown-field"}


def test_duplicate_label_key_is_an_input_error_with_line() -> None:
    path = FIXTURES / "invalid-duplicate-label-key.yaml"
    line = int(re.search(r"^# expect-input-error: (\d+)$", path.read_text(), re.M).group(1))
    with pytest.raises(InputError) as info:
        load_pool_file(path)
    assert info.value.line == line
    assert "duplicate key 'workload-type'" in info.value.message


def test_mig_messages_name_the_gpu_and_the_reason() -> None:
    (profile,) = _findings(FIXTURES / "mig-profile-not-on-gpu.yaml")
    assert "2g.20gb, 3g.40gb" in profile.message and "A100-40GB" in profile.message
    (layout,) = _findings(FIXTURES / "mig-layout-unplaceable.yaml")
    assert "A100-80GB" in layout.message and "memory slices" in layout.message


def test_label_value_hint_points_to_one_key_per_workload_type() -> None:
    (finding,) = _findings(FIXTURES / "label-two-values.yaml")
    assert "one value" in finding.message and "workload-type.mlplatform.example.com/<type>" in finding.message


def test_cluster_must_match_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "terraform" / "environments" / "staging" / "node-pools.yaml"
    path.parent.mkdir(parents=True)
    path.write_text((FIXTURES / "valid.yaml").read_text())
    findings = _findings(path, tmp_path)
    assert [(f.rule, f.line, f.file) for f in findings] == [
        ("pool/file", 2, "terraform/environments/staging/node-pools.yaml")]


@pytest.mark.parametrize(("key", "ok"), [
    ("mlplatform.example.com/pool", True), ("nvidia.com/mig.config", True), ("simple", True),
    ("a/b", True), ("Upper.example.com/x", False), ("example.com/", False), ("/name", False),
    ("example.com/-x", False), ("x" * 64, False), ("example.com/" + "x" * 63, True), ("a b", False),
])
def test_label_key_syntax(key: str, ok: bool) -> None:
    assert (label_key_problem(key) is None) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("", True), ("true", True), ("a100-mig", True), ("A.b_c-1", True), ("x" * 63, True), ("x" * 64, False),
    ("-a", False), ("a,b", False), ("a b", False), ("a/b", False),
])
def test_label_value_syntax(value: str, ok: bool) -> None:
    assert (label_value_problem(value) is None) is ok


def test_gpu_replicas_finding_points_at_the_replicas_line(repo_root: Path, tmp_path: Path) -> None:
    # The real staging file with one edit: a time-sliced pool with replicas 1. The finding names the line of
    # `replicas:`, the one a person edits, not the `gpu:` section above it.
    text = pool_file_path(repo_root, "staging").read_text()
    assert text.count("replicas: 4\n") >= 1
    path = pool_file_path(tmp_path, "staging")
    path.parent.mkdir(parents=True)
    path.write_text(text.replace("replicas: 4\n", "replicas: 1\n", 1))
    replicas_line = path.read_text().splitlines().index("      replicas: 1") + 1
    findings = _findings(path, tmp_path)
    assert [(f.rule, f.line) for f in findings] == [("pool/timeslice-replicas", replicas_line)]
    lines = path.read_text().splitlines()
    assert lines[replicas_line - 3].strip() == "gpu:"  # the line it used to name


def test_nested_keys_have_their_own_lines() -> None:
    pool = load_pool_file(FIXTURES / "valid.yaml").pools["a100-timeslice"]
    lines = (FIXTURES / "valid.yaml").read_text().splitlines()
    assert lines[pool.line_of("gpu.replicas") - 1].strip().startswith("replicas:")
    assert lines[pool.line_of("gpu.sharing") - 1].strip() == "sharing: time-slicing"
    assert lines[pool.line_of("labels.mlplatform.example.com/pool") - 1].strip().startswith(
        "mlplatform.example.com/pool:"
    )
    assert pool.line_of("gpu.no-such-key") == pool.line  # unknown keys fall back to the pool


def test_autoscaler_gpu_label_messages_say_why() -> None:
    (missing,) = _findings(FIXTURES / "autoscaler-gpu-label-missing.yaml")
    assert "k8s.amazonaws.com/accelerator" in missing.message and '"nvidia-tesla-a100"' in missing.message
    (on_mig,) = _findings(FIXTURES / "autoscaler-gpu-label-on-mig.yaml")
    assert "nvidia.com/mig-" in on_mig.message and "unready forever" in on_mig.message


def test_efa_and_capacity_reservation_messages_name_the_fix() -> None:
    (zone,) = _findings(FIXTURES / "efa-without-zone.yaml")
    assert "exactly one zone" in zone.message and "placement group" in zone.message
    (instance,) = _findings(FIXTURES / "efa-instance-without-efa.yaml")
    assert "g6.xlarge has no EFA" in instance.message
    messages = [f.message for f in _findings(FIXTURES / "capacity-block-without-zone.yaml")]
    assert any("exactly one instance type" in m for m in messages)
    assert any("reservation id, not a resource group" in m for m in messages)


def test_real_training_pools_are_efa_pools_in_one_zone(repo_root: Path) -> None:
    for cluster in ("production", "staging"):
        pools = load_pool_file(pool_file_path(repo_root, cluster), repo_root).pools
        efa = {name for name, pool in pools.items() if pool.efa}
        assert efa == {"a100-timeslice", "h100-timeslice", "a100-timeslice-spot"}
        assert all(len(pools[name].extra["zones"]) == 1 for name in efa)


def test_an_unquoted_version_is_refused_at_its_line() -> None:
    # 1.30 unquoted is the float 1.3: no schemas exist for it, so the pool file does not load (pool/file-invalid
    # in check), and the message says how to write it
    with pytest.raises(InputError) as caught:
        load_pool_file(FIXTURES / "kubernetes-version-unquoted.yaml")
    assert caught.value.line == 5 and 'write it quoted, e.g. "1.30"' in caught.value.message
