"""`mlplatform gen`: the GPU-sharing ConfigMaps match the pool files; drift is caught; output is stable."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlplatform import gen
from mlplatform.pools import load_pool_file, pool_file_path

CLUSTERS = ("production", "staging")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The installed console script, as a user runs it (not imported from conftest: tests/ has several)."""
    exe = shutil.which("mlplatform") or str(Path(sys.executable).parent / "mlplatform")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300, env=dict(os.environ))


def _configmap(path: Path) -> dict:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert len(docs) == 1 and docs[0]["kind"] == "ConfigMap", path
    return docs[0]


def _device_plugin(repo: Path, cluster: str) -> dict[str, dict]:
    cm = _configmap(gen.generated_dir(repo, cluster) / gen.DEVICE_PLUGIN_FILE)
    return {key: yaml.safe_load(text) for key, text in cm["data"].items()}


def _mig_parted(repo: Path, cluster: str) -> dict[str, list]:
    cm = _configmap(gen.generated_dir(repo, cluster) / gen.MIG_PARTED_FILE)
    assert set(cm["data"]) == {"config.yaml"}
    parsed = yaml.safe_load(cm["data"]["config.yaml"])
    assert parsed["version"] == "v1"
    return parsed["mig-configs"]


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) >= count, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count))


# ---------------------------------------------------------------- the committed files agree with the pools


def test_committed_generated_files_have_no_drift(repo_root: Path) -> None:
    assert gen.check_drift(repo_root) == []


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_device_plugin_config_has_one_entry_per_labelled_gpu_pool(repo_root: Path, cluster: str) -> None:
    pools = load_pool_file(pool_file_path(repo_root, cluster), repo_root).pools
    configs = _device_plugin(repo_root, cluster)
    labelled = {p.labels[gen.DEVICE_PLUGIN_LABEL]: p for p in pools.values()
                if p.is_gpu and gen.DEVICE_PLUGIN_LABEL in p.labels}
    # Every key is selected by exactly the label value of one pool (or is the fallback `default`).
    assert set(configs) == {"default", *labelled}
    for key, pool in labelled.items():
        entry = configs[key]
        assert entry["version"] == "v1"
        if pool.gpu.sharing == "time-slicing":
            ts = entry["sharing"]["timeSlicing"]
            assert ts["renameByDefault"] is False
            assert ts["failRequestsGreaterThanOne"] is True
            assert ts["resources"] == [{"name": "nvidia.com/gpu", "replicas": pool.gpu.replicas}]
            assert entry["flags"]["migStrategy"] == "none"
        else:
            assert "sharing" not in entry
        if pool.gpu.sharing == "mig":
            assert entry["flags"]["migStrategy"] == "mixed"
    assert "sharing" not in configs["default"]


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_time_slicing_replicas_per_pool_are_the_pool_files(repo_root: Path, cluster: str) -> None:
    """Straight from the pool file's numbers, so the test cannot agree with a wrong generator by accident."""
    pools = load_pool_file(pool_file_path(repo_root, cluster), repo_root).pools
    configs = _device_plugin(repo_root, cluster)
    time_sliced = [p for p in pools.values() if p.gpu and p.gpu.sharing == "time-slicing"]
    assert time_sliced, "the repository's pools include time-sliced ones"
    for pool in time_sliced:
        key = pool.labels[gen.DEVICE_PLUGIN_LABEL]
        replicas = configs[key]["sharing"]["timeSlicing"]["resources"][0]["replicas"]
        assert replicas == pool.gpu.replicas >= 2


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_mig_parted_config_has_the_layout_of_each_mig_pool(repo_root: Path, cluster: str) -> None:
    pools = load_pool_file(pool_file_path(repo_root, cluster), repo_root).pools
    configs = _mig_parted(repo_root, cluster)
    mig_pools = {p.labels[gen.MIG_CONFIG_LABEL]: p for p in pools.values()
                 if p.gpu and p.gpu.sharing == "mig"}
    assert mig_pools, "the repository's pools include a MIG pool"
    assert set(configs) == {"all-disabled", *mig_pools}
    assert configs["all-disabled"] == [{"devices": "all", "mig-enabled": False}]
    for key, pool in mig_pools.items():
        assert configs[key] == [{"devices": "all", "mig-enabled": True, "mig-devices": pool.gpu.mig_layout}]


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_generated_files_carry_the_do_not_edit_header(repo_root: Path, cluster: str) -> None:
    for name in (gen.DEVICE_PLUGIN_FILE, gen.MIG_PARTED_FILE, gen.KUSTOMIZATION_FILE):
        first = (gen.generated_dir(repo_root, cluster) / name).read_text().splitlines()[0]
        source = f"terraform/environments/{cluster}/node-pools.yaml"
        assert first == f"# generated by `mlplatform gen` from {source} - do not edit"


# ---------------------------------------------------------------- drift


def test_changed_replicas_make_gen_check_fail_and_gen_fixes_it(repo_copy: Path) -> None:
    pool_file = pool_file_path(repo_copy, "production")
    old = "      sharing: time-slicing\n      replicas: 4"
    _edit(pool_file, old, old.replace("4", "3"))

    result = run_cli("gen", "--check", "--repo", str(repo_copy))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "infrastructure/controllers/production/generated/device-plugin-config.yaml" in result.stdout
    assert "terraform/environments/production/node-pools.yaml" in result.stdout
    # Only the file whose content depends on the change drifts.
    assert "mig-parted-config.yaml" not in result.stdout
    assert "staging" not in result.stdout

    fixed = run_cli("gen", "--repo", str(repo_copy))
    assert fixed.returncode == 0, fixed.stderr
    assert run_cli("gen", "--check", "--repo", str(repo_copy)).returncode == 0
    entry = _device_plugin(repo_copy, "production")["a100-timeslice"]
    assert entry["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 3}]
    # Atomic writes leave no temporary files behind.
    assert not list(gen.generated_dir(repo_copy, "production").glob(".*.tmp"))


def test_changed_mig_layout_drifts_the_mig_parted_config(repo_copy: Path) -> None:
    _edit(pool_file_path(repo_copy, "staging"), '{"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}',
          '{"1g.10gb": 7}')
    findings = gen.check_drift(repo_copy)
    assert [(f.cluster, f.file) for f in findings] == [
        ("staging", "infrastructure/controllers/staging/generated/mig-parted-config.yaml")]
    assert findings[0].severity.value == "error" and findings[0].line is not None
    assert "terraform/environments/staging/node-pools.yaml" in findings[0].message
    assert run_cli("gen", "--repo", str(repo_copy)).returncode == 0
    assert _mig_parted(repo_copy, "staging")["a100-mig"][0]["mig-devices"] == {"1g.10gb": 7}


def test_missing_and_hand_edited_files_are_reported(repo_copy: Path) -> None:
    out = gen.generated_dir(repo_copy, "production")
    (out / gen.MIG_PARTED_FILE).unlink()
    _edit(out / gen.DEVICE_PLUGIN_FILE, "replicas: 4", "replicas: 8")
    findings = {f.file: f for f in gen.check_drift(repo_copy)}
    missing = findings["infrastructure/controllers/production/generated/mig-parted-config.yaml"]
    edited = findings["infrastructure/controllers/production/generated/device-plugin-config.yaml"]
    assert "missing" in missing.message
    assert "differs" in edited.message
    assert "replicas: 8" in (out / gen.DEVICE_PLUGIN_FILE).read_text().splitlines()[edited.line - 1]
    assert len(findings) == 2


def test_a_new_pool_gets_its_own_entry(repo_copy: Path) -> None:
    pool_file = pool_file_path(repo_copy, "staging")
    text = pool_file.read_text()
    text += """  l4-timeslice:
    instance_types: [g6.xlarge]
    capacity_type: on-demand
    min_size: 0
    max_size: 2
    desired_size: 0
    labels:
      mlplatform.example.com/pool: l4-timeslice
      nvidia.com/device-plugin.config: l4-timeslice
      k8s.amazonaws.com/accelerator: nvidia-l4
    taints:
      - {key: gpu, value: l4, effect: NoSchedule}
    gpu:
      sharing: time-slicing
      replicas: 3
"""
    pool_file.write_text(text)
    assert [f.file for f in gen.check_drift(repo_copy)] == [
        "infrastructure/controllers/staging/generated/device-plugin-config.yaml"]
    assert run_cli("gen", "--repo", str(repo_copy)).returncode == 0
    entry = _device_plugin(repo_copy, "staging")["l4-timeslice"]
    assert entry["sharing"]["timeSlicing"]["resources"][0]["replicas"] == 3


# ---------------------------------------------------------------- determinism and bad input


def test_output_is_deterministic_and_independent_of_pool_order(repo_copy: Path) -> None:
    first = gen.generate(repo_copy)
    assert gen.generate(repo_copy) == first
    pool_file = pool_file_path(repo_copy, "production")
    data = yaml.safe_load(pool_file.read_text())
    data["pools"] = dict(reversed(list(data["pools"].items())))
    pool_file.write_text(yaml.safe_dump(data, sort_keys=False))
    assert gen.generate(repo_copy) == first


def test_keys_that_yaml_would_misread_are_quoted(tmp_path: Path) -> None:
    repo = _mini_repo(tmp_path, device_plugin_key="on", mig_key="1.5")
    texts = {p.name: t for p, t in gen.generate(repo).items()}
    assert '"on": |' in texts[gen.DEVICE_PLUGIN_FILE]
    assert '"1.5":' in texts[gen.MIG_PARTED_FILE]
    assert set(yaml.safe_load(texts[gen.DEVICE_PLUGIN_FILE])["data"]) == {"default", "on", "1.5"}
    mig = yaml.safe_load(yaml.safe_load(texts[gen.MIG_PARTED_FILE])["data"]["config.yaml"])
    assert set(mig["mig-configs"]) == {"all-disabled", "1.5"}


def test_time_slicing_pool_without_replicas_is_a_clear_error(tmp_path: Path) -> None:
    repo = _mini_repo(tmp_path, replicas_line="")
    result = run_cli("gen", "--repo", str(repo))
    assert result.returncode == 1  # a finding about the pool file, not a tool failure
    assert "Traceback" not in result.stderr
    assert re.search(r"terraform/environments/mini/node-pools\.yaml:\d+: .*replicas >= 2", result.stdout)
    assert not (repo / "infrastructure").exists()  # nothing written


def test_two_pools_with_the_same_config_label_are_rejected(tmp_path: Path) -> None:
    repo = _mini_repo(tmp_path, mig_key="ts")  # the MIG pool's device-plugin label reuses "ts"
    result = run_cli("gen", "--check", "--repo", str(repo))
    assert result.returncode == 1
    assert "already used by pool" in result.stdout


def _mini_repo(tmp_path: Path, device_plugin_key: str = "ts", mig_key: str = "mig",
               replicas_line: str = "      replicas: 2\n") -> Path:
    """A repository with one cluster `mini`: a time-sliced pool and a MIG pool."""
    repo = tmp_path / "mini-repo"
    (repo / "clusters" / "mini").mkdir(parents=True)
    env = repo / "terraform" / "environments" / "mini"
    env.mkdir(parents=True)
    (env / "node-pools.yaml").write_text(f"""cluster: mini
region: us-east-1
pools:
  ts:
    instance_types: [p4d.24xlarge]
    capacity_type: on-demand
    min_size: 0
    max_size: 1
    desired_size: 0
    labels:
      nvidia.com/device-plugin.config: "{device_plugin_key}"
    taints: []
    gpu:
      sharing: time-slicing
{replicas_line}  mig:
    instance_types: [p4de.24xlarge]
    capacity_type: on-demand
    min_size: 0
    max_size: 1
    desired_size: 0
    labels:
      nvidia.com/mig.config: "{mig_key}"
      nvidia.com/device-plugin.config: "{mig_key}"
    taints: []
    gpu:
      sharing: mig
      mig_layout: {{"3g.40gb": 2}}
""")
    return repo


# ---------------------------------------------------------------- unloadable pool files and --cluster


def test_yaml_syntax_error_in_a_pool_file_is_a_finding_for_gen_check(repo_copy: Path) -> None:
    pool_file = pool_file_path(repo_copy, "staging")
    pool_file.write_text(pool_file.read_text() + "  broken: [unclosed\n")
    result = run_cli("gen", "--check", "--repo", str(repo_copy))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"^terraform/environments/staging/node-pools\.yaml:\d+: error pool/file-invalid: ",
                     result.stdout, re.MULTILINE), result.stdout
    # The other cluster is still compared (and is up to date).
    assert "production" not in result.stdout
    findings = gen.check_drift(repo_copy)
    assert [(f.rule, f.cluster) for f in findings] == [("pool/file-invalid", "staging")]
    assert findings[0].line and findings[0].line > 1


def test_gen_writes_nothing_while_a_pool_file_cannot_be_loaded(repo_copy: Path) -> None:
    staging = gen.generated_dir(repo_copy, "staging") / gen.DEVICE_PLUGIN_FILE
    staging_before = staging.read_bytes()
    pool_file = pool_file_path(repo_copy, "staging")
    pool_file.write_text("pools: [unclosed\n")
    old = "      sharing: time-slicing\n      replicas: 4"
    _edit(pool_file_path(repo_copy, "production"), old, old.replace("4", "3"))

    production = gen.generated_dir(repo_copy, "production") / gen.DEVICE_PLUGIN_FILE
    production_before = production.read_bytes()
    result = run_cli("gen", "--repo", str(repo_copy))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"^terraform/environments/staging/node-pools\.yaml:\d+: error pool/file-invalid: invalid YAML",
                     result.stdout, re.MULTILINE), result.stdout
    # Nothing is written while a selected pool file has errors, not even the loadable cluster's files.
    assert "wrote " not in result.stdout and "nothing written" in result.stderr
    assert staging.read_bytes() == staging_before and production.read_bytes() == production_before


def test_gen_cluster_limits_generation_and_check(repo_copy: Path) -> None:
    for cluster in CLUSTERS:
        (gen.generated_dir(repo_copy, cluster) / gen.MIG_PARTED_FILE).unlink()
    check = run_cli("gen", "--check", "--cluster", "staging", "--repo", str(repo_copy))
    assert check.returncode == 1
    assert "staging/generated/mig-parted-config.yaml" in check.stdout and "production" not in check.stdout

    written = run_cli("gen", "--cluster", "staging", "--repo", str(repo_copy))
    assert written.returncode == 0, written.stderr
    assert (gen.generated_dir(repo_copy, "staging") / gen.MIG_PARTED_FILE).is_file()
    assert not (gen.generated_dir(repo_copy, "production") / gen.MIG_PARTED_FILE).exists()
    assert run_cli("gen", "--check", "--cluster", "staging", "--repo", str(repo_copy)).returncode == 0
    assert run_cli("gen", "--check", "--repo", str(repo_copy)).returncode == 1


def test_gen_unknown_cluster_is_exit_2(repo_root: Path) -> None:
    result = run_cli("gen", "--check", "--cluster", "nope", "--repo", str(repo_root))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "unknown cluster(s): nope" in result.stderr


def test_gen_refuses_a_mig_layout_check_calls_invalid_and_writes_nothing(repo_copy: Path) -> None:
    """3g + 3g + 1g takes nine memory slices of eight: `check` reports pool/mig-layout, so `gen` must not
    write it into the mig-parted config."""
    pool_file = pool_file_path(repo_copy, "production")
    text = pool_file.read_text()
    layout = re.search(r'mig_layout: \{[^}]*\}', text).group(0)
    _edit(pool_file, layout, 'mig_layout: {"3g.40gb": 2, "1g.10gb": 1}')
    out = gen.generated_dir(repo_copy, "production")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for args in (["gen"], ["gen", "--cluster", "production"]):
        result = run_cli(*args, "--repo", str(repo_copy))
        assert result.returncode == 1, result.stdout + result.stderr
        assert re.search(r"^terraform/environments/production/node-pools\.yaml:\d+: error pool/mig-layout: ",
                         result.stdout, re.MULTILINE), result.stdout
        assert "wrote " not in result.stdout and "nothing written" in result.stderr
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    check = run_cli("check", "--repo", str(repo_copy), "--format", "json")
    assert any(f["rule"] == "pool/mig-layout" for f in json.loads(check.stdout)["findings"])
