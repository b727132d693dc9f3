"""Rule gpu-memory-uncapped: good and bad fixtures (tests/rules/fixtures/gpu-memory-uncapped/), and only real caps.

A cap counts only where the program that reads it runs (policies/gpu-sharing.yaml memory_cap); annotations
and variables that nothing reads are reported by name; the fix writes the share in the mechanism's unit.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rulekit import REPO

from mlplatform.rules import load_policy
from mlplatform.rules._memory_caps import DEFAULT as DEFAULT_MEMORY_CAPS


def _finding(bad, name):
    found = [f for f in bad if f.object and f.object.name == name]
    assert len(found) == 1, [f.message for f in bad]
    return found[0]


def _replace(finding) -> dict:
    return next(op for op in finding.fix if op["op"] == "replace")


def test_good_and_bad(good_and_bad):
    good_and_bad("policy/gpu-memory-uncapped")


def test_fix_splices_the_cap_into_shell_text_with_braces(good_and_bad):
    bad = good_and_bad("policy/gpu-memory-uncapped")
    replace = _replace(_finding(bad, "bad-shell-braces"))
    # a100-timeslice shares each GPU 4 ways: the cap becomes 0.25, the shell variable stays as written
    assert replace["value"] == "vllm serve /models/m --gpu-memory-utilization=0.25 --shard=${JOB_COMPLETION_INDEX}"


def test_fix_of_a_megabyte_cap_writes_megabytes(good_and_bad):
    finding = _finding(good_and_bad("policy/gpu-memory-uncapped"), "bad-tf-limit-high")
    assert "MLPLATFORM_GPU_MEMORY_LIMIT_MB=61440 (tf-memory-cap)" in finding.message
    assert "10240 MB" in finding.message
    replace = _replace(finding)
    # a quarter of the 40960 MiB A100 of a100-timeslice, as the whole number TensorFlow's memory_limit takes
    assert replace["value"] == "10240"
    assert replace["path"].endswith("/containers/0/env/0/value")


def test_annotations_and_unread_variables_are_named_as_not_caps(good_and_bad):
    bad = good_and_bad("policy/gpu-memory-uncapped")
    annotation = _finding(bad, "bad-annotation-only")
    assert "annotation mlplatform.example.com/gpu-memory-fraction is not a cap" in annotation.message
    assert annotation.fix is None
    decoy = _finding(bad, "bad-decoy-env")
    assert "PYTORCH_GPU_MEMORY_FRACTION is not a cap (no PyTorch release reads this variable)" in decoy.message


def test_a_setting_counts_only_in_a_container_running_its_program(good_and_bad):
    bad = good_and_bad("policy/gpu-memory-uncapped")
    flag = _finding(bad, "bad-flag-on-another-program")
    assert "--gpu-memory-utilization is read by vllm, which this container does not run" in flag.message
    variable = _finding(bad, "bad-launcher-variable-without-launcher")
    assert "MLPLATFORM_GPU_MEMORY_FRACTION is read by torch-memory-cap" in variable.message
    assert "/opt/mlplatform/gpu-memory-cap/torch_memory_cap.py" in variable.message


def test_repository_policy_lists_each_mechanism_with_its_source():
    caps = load_policy(REPO, "production").memory_caps
    by_name = {m.name: m for m in caps.mechanisms}
    assert set(by_name) == {"vllm", "text-generation-inference", "torch-memory-cap", "tf-memory-cap"}
    assert by_name["tf-memory-cap"].unit == "MB" and by_name["tf-memory-cap"].env == ("MLPLATFORM_GPU_MEMORY_LIMIT_MB",)
    assert all(m.source for m in caps.mechanisms)
    # The launchers the policy names are the files the ConfigMap ships.
    shipped = REPO / "apps/base/training/shared/gpu-memory-cap"
    for name in ("torch-memory-cap", "tf-memory-cap"):
        (marker,) = by_name[name].runs
        assert (shipped / Path(marker).name).is_file(), marker
    assert "PYTORCH_GPU_MEMORY_FRACTION" in caps.not_caps and "TF_GPU_MEMORY_LIMIT_MB" in caps.not_caps


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("      unit: MB\n", "      unit: GiB\n", "memory_cap.mechanisms[3].unit: expected one of fraction, MB"),
        ("      runs: [vllm/vllm-openai, vllm serve, vllm.entrypoints]\n", "      runs: []\n",
         "memory_cap.mechanisms[0].runs: expected a non-empty list of strings"),
        ("      args: [--gpu-memory-utilization]\n", "", "memory_cap.mechanisms[0]: name the 'args' or 'env'"),
    ],
)
def test_malformed_mechanism_names_file_and_line(tmp_path: Path, old: str, new: str, complaint: str):
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    path = tmp_path / "policies" / "gpu-sharing.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    # a finding at the file and line (the rule falls back to the built-in mechanisms), not an exception
    policy = load_policy(tmp_path, "production")
    [problem] = policy.problems
    assert problem.rule == "policy/invalid-parameter"
    assert problem.file == "policies/gpu-sharing.yaml" and problem.line > 1
    assert complaint in problem.message
    assert policy.memory_caps == DEFAULT_MEMORY_CAPS
