"""Pool file rules: each fixture in tests/fixtures/pools/ holds one mistake and the finding it expects."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlplatform.catalog import load_catalog
from mlplatform.errors import InputError
from mlplatform.gen import pool_file_errors
from mlplatform.model import Severity
from mlplatform.pool_rules import RULES, check_pool_file, label_key_problem, label_value_problem
from mlplatform.pools import load_pool_file, pool_file_path
from mlplatform.zones import cluster_zone_ids

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pools"
EXPECT = re.compile(r"^# expect: (?P<rule>[a-z/-]+) (?P<line>\d+)$", re.M)
# The cluster's zone ids a fixture is checked against, as check reads them from Terraform (none: unknown).
ZONE_IDS = re.compile(r"^# cluster-zone-ids: (?P<ids>.+)$", re.M)
RULE_FIXTURES = sorted(p for p in FIXTURES.glob("*.yaml") if EXPECT.search(p.read_text()))


def _expected(path: Path) -> set[tuple[str, int]]:
    return {(m["rule"], int(m["line"])) for m in EXPECT.finditer(path.read_text())}


def _findings(path: Path, repo: Path | None = None):
    header = ZONE_IDS.search(path.read_text())
    zone_ids = tuple(header["ids"].split()) if header else None
    return check_pool_file(load_pool_file(path, repo), load_catalog(), zone_ids)


@pytest.mark.parametrize("cluster", ["production", "staging"])
def test_real_pool_files_have_no_findings(repo_root: Path, cluster: str) -> None:
    # Checked against the cluster's zone ids as Terraform sets them, the way `check` does.
    zone_ids = cluster_zone_ids(repo_root, cluster)
    assert zone_ids == ("use1-az1", "use1-az2", "use1-az4")
    pool_file = load_pool_file(pool_file_path(repo_root, cluster), repo_root)
    findings = check_pool_file(pool_file, load_catalog(), zone_ids)
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
        # One zone, named by id: the first of the cluster's zones, so the plan and Terraform see the same zone.
        assert {name: pools[name].extra["zones"] for name in efa} == dict.fromkeys(efa, ["use1-az1"])


def test_a_zone_name_is_refused_with_the_zone_id_to_use() -> None:
    (finding,) = _findings(FIXTURES / "zone-name.yaml")
    assert finding.rule == "pool/zone-id" and "'us-east-1a' is a zone name; use the zone id" in finding.message
    assert "different physical zones in every AWS account" in finding.message
    assert "describe-availability-zones --zone-names us-east-1a" in finding.message


def test_a_zone_name_message_lists_the_cluster_zone_ids_when_known() -> None:
    pool_file = load_pool_file(FIXTURES / "zone-name.yaml")
    (finding,) = check_pool_file(pool_file, load_catalog(), ("use1-az1", "use1-az2", "use1-az4"))
    assert "one of the cluster's: use1-az1, use1-az2, use1-az4" in finding.message


def test_a_zone_outside_the_cluster_names_the_cluster_zones() -> None:
    (finding,) = _findings(FIXTURES / "zone-not-in-cluster.yaml")
    assert "'use1-az3' is not one of the cluster's zones (use1-az1, use1-az2, use1-az4" in finding.message
    # Without the cluster's ids (no Terraform to read) a well-formed id cannot be judged, and is not.
    assert check_pool_file(load_pool_file(FIXTURES / "zone-not-in-cluster.yaml"), load_catalog()) == []


@pytest.mark.parametrize(("zone", "problem"), [
    ("use1-az1", None), ("apne1-az4", None), ("usgw1-az1", None),
    ("us-east-1a", "is a zone name"), ("us-gov-west-1a", "is a zone name"), ("eu-west-1a", "is a zone name"),
    ("zone-a", "is not a zone id"), ("use1-az", "is not a zone id"), ("USE1-AZ1", "is not a zone id"),
])
def test_zone_ids_and_names_without_terraform(zone: str, problem: str | None) -> None:
    pool_file = load_pool_file(FIXTURES / "zone-name.yaml")
    pool_file.pools["a100-timeslice"].extra["zones"] = [zone]
    messages = [f.message for f in check_pool_file(pool_file, load_catalog())]
    if problem is None:
        assert messages == []
    else:
        (message,) = messages
        assert message.startswith(f"pool a100-timeslice: zone {zone!r} {problem}")


def test_check_reads_the_cluster_zone_ids_from_terraform(tmp_path: Path) -> None:
    # What the newcomer met: a pool file with a zone name beside Terraform's zone ids. check (via
    # cluster_zone_ids) knows the ids and names them; a zone id outside them is an error too.
    env = tmp_path / "terraform" / "environments" / "fixture"
    env.mkdir(parents=True)
    (env / "variables.tf").write_text('variable "availability_zone_ids" {\n  type = list(string)\n}\n')
    (env / "terraform.tfvars").write_text('availability_zone_ids = ["use1-az1", "use1-az2", "use1-az4"]\n')
    assert cluster_zone_ids(tmp_path, "fixture") == ("use1-az1", "use1-az2", "use1-az4")
    assert cluster_zone_ids(tmp_path, "other") is None  # no environment: unknown, not empty
    (env / "terraform.tfvars").write_text("availability_zone_ids = [\n")  # unparsable, and no default
    assert cluster_zone_ids(tmp_path, "fixture") is None


def test_gen_refuses_a_zone_outside_the_cluster(tmp_path: Path) -> None:
    # gen writes nothing while check has a pool-file error: it must judge zones against the same zone ids.
    env = tmp_path / "terraform" / "environments" / "fixture"
    env.mkdir(parents=True)
    (env / "node-pools.yaml").write_text((FIXTURES / "zone-not-in-cluster.yaml").read_text())
    (env / "terraform.tfvars").write_text('availability_zone_ids = ["use1-az1", "use1-az2", "use1-az4"]\n')
    assert [(f.rule, f.line) for f in pool_file_errors(tmp_path)] == [("pool/zone-id", 25)]


def test_an_unquoted_version_is_refused_at_its_line() -> None:
    # 1.30 unquoted is the float 1.3: no schemas exist for it, so the pool file does not load (pool/file-invalid
    # in check), and the message says how to write it
    with pytest.raises(InputError) as caught:
        load_pool_file(FIXTURES / "kubernetes-version-unquoted.yaml")
    assert caught.value.line == 5 and 'write it quoted, e.g. "1.30"' in caught.value.message
