"""Rule backup-volume-mechanism: Velero schedules against what the Velero values and classes can take
(tests/rules/fixtures/backup-volume-mechanism/)."""

from __future__ import annotations

from rulekit import fixture_dir, fixture_findings, load_fixture, run_rule

RULE = "policy/backup-volume-mechanism"
GOOD = fixture_dir(RULE) / "good.yaml"
BAD = fixture_dir(RULE) / "bad.yaml"


def _values(manifests) -> dict:
    release = next(m for m in manifests if m.ref.kind == "HelmRelease")
    return release.obj["spec"]["values"]


def _line(text: str, start: int = 1) -> int:
    lines = GOOD.read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if n >= start and text in line)


def test_good_and_bad(good_and_bad):
    bad = good_and_bad(RULE)
    assert {f.object.name for f in bad} == {
        "bad-efs-snapshot",
        "bad-unset",
        "bad-fs-backup-without-agent",
        "bad-missing-policy",
        "bad-one-off",
    }


def test_messages_name_the_volumes_and_the_reason():
    _, findings = fixture_findings(RULE, "bad")
    by_name = {f.object.name: f for f in findings}
    efs = by_name["bad-efs-snapshot"]
    assert "training/checkpoints (StorageClass efs, driver efs.csi.aws.com)" in efs.message
    assert "snapshotVolumes: true" in efs.message and "resourcePolicy" in efs.message
    assert "snapshotVolumes unset" in by_name["bad-unset"].message
    assert "volume policy fs-backup" in by_name["bad-fs-backup-without-agent"].message
    assert "nowhere" in by_name["bad-missing-policy"].message and "fail validation" in by_name[
        "bad-missing-policy"
    ].message
    lines = BAD.read_text().splitlines()
    start = next(n for n, line in enumerate(lines, 1) if "bad-efs-snapshot" in line)
    assert efs.line == next(n for n, line in enumerate(lines, 1) if n > start and "snapshotVolumes:" in line)


def test_no_mechanism_at_all_is_reported_at_the_velero_values():
    manifests = load_fixture(GOOD)
    del _values(manifests)["configuration"]["features"]
    findings = run_rule(RULE, manifests)
    # every schedule or backup that asks for volume data, and only those
    assert {f.object.name for f in findings} == {"workloads-daily", "mlops-4h", "before-upgrade"}
    for finding in findings:
        # at the Velero values: the edit above is on the rendered object, so the source line of
        # spec.values.configuration.features still exists and is the one named
        assert finding.file.endswith("good.yaml") and finding.line == _line("features: EnableCSI")
        assert "no EnableCSI" in finding.message and "complete without any volume data" in finding.message


def test_csi_without_a_labelled_class_is_no_mechanism():
    manifests = [m for m in load_fixture(GOOD) if m.ref.kind != "VolumeSnapshotClass"]
    findings = run_rule(RULE, manifests)
    assert findings and all("no VolumeSnapshotClass is labelled" in f.message for f in findings)


def test_a_node_agent_takes_any_volume():
    manifests = load_fixture(BAD)
    _values(manifests)["deployNodeAgent"] = True
    findings = run_rule(RULE, manifests)
    assert {f.object.name for f in findings} == {"bad-missing-policy"}  # a missing ConfigMap still fails


def test_a_snapshot_location_takes_ebs_but_not_efs():
    manifests = load_fixture(GOOD)
    values = _values(manifests)
    del values["configuration"]["features"]
    values["snapshotsEnabled"] = True
    values["configuration"]["volumeSnapshotLocation"] = [{"name": "default", "provider": "aws"}]
    assert run_rule(RULE, manifests) == []  # EFS is skipped by the policies, EBS taken by the AWS plugin
    daily = next(m for m in manifests if m.ref.name == "workloads-daily")
    del daily.obj["spec"]["template"]["resourcePolicy"]
    findings = run_rule(RULE, manifests)
    assert [f.object.name for f in findings] == ["workloads-daily"]
    assert "training/checkpoints" in findings[0].message and "mlops" not in findings[0].message


def test_snapshot_locations_are_off_when_the_chart_creates_none():
    manifests = load_fixture(GOOD)
    values = _values(manifests)
    del values["configuration"]["features"]
    values["configuration"]["volumeSnapshotLocation"] = [{"name": "default", "provider": "aws"}]
    values["snapshotsEnabled"] = False  # templates/volumesnapshotlocation.yaml renders nothing
    assert {f.object.name for f in run_rule(RULE, manifests)} == {"workloads-daily", "mlops-4h", "before-upgrade"}


def test_values_from_elsewhere_are_not_guessed():
    manifests = load_fixture(BAD)
    release = next(m for m in manifests if m.ref.kind == "HelmRelease")
    release.obj["spec"]["valuesFrom"] = [{"kind": "ConfigMap", "name": "velero-values"}]
    assert run_rule(RULE, manifests) == []


def test_label_filtered_schedules_are_checked_for_a_mechanism_only():
    manifests = load_fixture(BAD)
    schedule = next(m for m in manifests if m.ref.name == "bad-efs-snapshot")
    schedule.obj["spec"]["template"]["labelSelector"] = {"matchLabels": {"backup": "true"}}
    assert "bad-efs-snapshot" not in {f.object.name for f in run_rule(RULE, manifests)}


def test_exemption_with_reason():
    manifests = load_fixture(BAD)
    schedule = next(m for m in manifests if m.ref.name == "bad-unset")
    key = f"mlplatform.example.com/exempt-{RULE.split('/', 1)[1]}"
    schedule.obj["metadata"]["annotations"] = {key: "restores objects only"}
    assert "bad-unset" not in {f.object.name for f in run_rule(RULE, manifests)}


def test_a_policy_that_is_not_yaml_is_reported():
    manifests = load_fixture(GOOD)
    policy = next(m for m in manifests if m.ref.name == "volume-policy")
    policy.obj["data"]["policy.yaml"] = "volumePolicies: [unclosed"
    findings = run_rule(RULE, manifests)
    assert [f.object.name for f in findings] == ["workloads-daily"] and "YAML" in findings[0].message
