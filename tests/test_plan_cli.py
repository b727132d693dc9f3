"""`mlplatform plan`: JSON contract, Markdown, what-if (--set), --base through a git worktree, check_fit."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from helpers import copy_repo, edit_copy, run_cli
from mlplatform.capacity.facts import ClusterFacts
from mlplatform.capacity.fit import RULE_MAX_SIZE, RULE_UNPLACED, check_fit
from mlplatform.capacity.plan import plan_cluster
from mlplatform.catalog import load_catalog
from mlplatform.config import Config
from mlplatform.context import ClusterContext
from mlplatform.model import GpuSharing, Manifest, Pool, PoolFile, Provenance, Taint
from mlplatform.rules import run_rules

CATALOG = load_catalog()


# ---------------------------------------------------------------- the planner on hand-made objects


def pool_file(**a100_overrides: Any) -> PoolFile:
    a100 = dict(
        name="a100-timeslice",
        instance_types=["p4d.24xlarge"],
        capacity_type="on-demand",
        min_size=0,
        max_size=2,
        desired_size=0,
        labels={"mlplatform.example.com/pool": "a100-timeslice"},
        taints=[Taint("gpu", "true", "NoSchedule")],
        gpu=GpuSharing("time-slicing", replicas=4),
        file="terraform/environments/test/node-pools.yaml",
        field_lines={"max_size": 17},
    )
    a100.update(a100_overrides)
    cpu = Pool(
        name="cpu",
        instance_types=["m5.2xlarge"],
        capacity_type="on-demand",
        min_size=1,
        max_size=3,
        desired_size=1,
        labels={"mlplatform.example.com/pool": "cpu"},
    )
    return PoolFile(
        "test",
        "us-east-1",
        {"cpu": cpu, "a100-timeslice": Pool(**a100)},
        "terraform/environments/test/node-pools.yaml",
    )


def gpu_deployment(name: str, replicas: int, gpus: int = 1, tolerate: bool = True) -> Manifest:
    spec: dict[str, Any] = {
        "nodeSelector": {"mlplatform.example.com/pool": "a100-timeslice"},
        "containers": [
            {
                "name": "c",
                "image": "i",
                "resources": {"requests": {"cpu": "2", "memory": "16Gi"}, "limits": {"nvidia.com/gpu": gpus}},
            }
        ],
    }
    if tolerate:
        spec["tolerations"] = [{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ml"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"a": name}},
            "template": {"metadata": {"labels": {"a": name}}, "spec": spec},
        },
    }
    return Manifest("test", obj, Provenance(f"apps/{name}.yaml", 3))


def gpu_daemonset() -> Manifest:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "dcgm", "namespace": "gpu"},
        "spec": {
            "selector": {"matchLabels": {"a": "d"}},
            "template": {
                "metadata": {"labels": {"a": "d"}},
                "spec": {
                    "tolerations": [{"key": "gpu", "operator": "Exists"}],
                    "containers": [
                        {"name": "c", "image": "i", "resources": {"requests": {"cpu": "30", "memory": "1Gi"}}}
                    ],
                },
            },
        },
    }
    return Manifest("test", obj, Provenance("infra/dcgm.yaml", 1))


def test_time_sliced_units_nodes_and_cost() -> None:
    plan = plan_cluster("test", [gpu_deployment("vllm", 40)], pool_file(), CATALOG)
    a100 = next(p for p in plan.to_json()["pools"] if p["pool"] == "a100-timeslice")
    assert a100["gpu_units"][0]["resource"] == "nvidia.com/gpu"
    assert a100["gpu_units"][0]["available_at_max_size"] == 2 * 32
    assert a100["gpu_units"][0]["requested_at_max_demand"] == 40
    assert a100["nodes_needed"] == {"min_demand": 2, "max_demand": 2}  # 40 units over 32 per node
    assert a100["cost_usd_per_hour"]["at_max_demand"] == pytest.approx(2 * 21.9576)
    assert a100["cost_usd_per_month"]["at_max_demand"] == pytest.approx(2 * 21.9576 * 730, abs=0.01)
    # no Terraform says the node group carries the scale-from-zero resource tags: that asks for an action
    assert any("cannot scale this pool from zero" in w and "nvidia.com/gpu=32" in w for w in a100["warnings"])
    assert plan.ok
    tagged = plan_cluster("test", [gpu_deployment("vllm", 40)], pool_file(), CATALOG,
                          facts=ClusterFacts(scale_from_zero_tags=True))
    assert next(p for p in tagged.to_json()["pools"] if p["pool"] == "a100-timeslice")["warnings"] == []


def test_daemonset_overhead_is_taken_from_every_node() -> None:
    # 30 CPUs of DaemonSet per node leave ~65.7 CPUs: 40 pods x 2 CPUs need 2 nodes, 33 x 2 would not fit one.
    plan = plan_cluster("test", [gpu_deployment("a", 32), gpu_daemonset()], pool_file(), CATALOG)
    a100 = next(p for p in plan.pools if p.pool.name == "a100-timeslice")
    assert a100.daemonset_overhead["cpu"] == 30_000
    assert a100.node_capacity["cpu"] == 96_000 - 310 - 30_000
    assert a100.at_max.nodes == 1
    plan = plan_cluster("test", [gpu_deployment("a", 33), gpu_daemonset()], pool_file(), CATALOG)
    assert next(p for p in plan.pools if p.pool.name == "a100-timeslice").at_max.nodes == 2


def test_max_size_too_small_is_a_check_error() -> None:
    ctx = ClusterContext(
        Path("."), Config(repo=Path(".")), "test", [gpu_deployment("vllm", 100)], pool_file(max_size=2)
    )
    findings = check_fit(ctx)
    assert [f.rule for f in findings] == [RULE_MAX_SIZE]
    assert (
        findings[0].line == 17
        and "needs 4 nodes" in findings[0].message
        and "short by 2" in findings[0].message
    )


def test_unplaced_workload_is_the_rule_fits_no_pool_s_check_error_with_reason() -> None:
    # The plan lists it as unplaced; in `check` the rule fits-no-pool owns it (one finding per cause,
    # tests/test_cluster_model.py), so the fit reports nothing more.
    ctx = ClusterContext(
        Path("."), Config(repo=Path(".")), "test", [gpu_deployment("x", 1, tolerate=False)], pool_file()
    )
    assert [f.rule for f in check_fit(ctx) if f.rule == RULE_UNPLACED] == []
    [rule] = [f for f in run_rules(ctx) if f.rule == "policy/fits-no-pool"]
    assert rule.file == "apps/x.yaml" and "does not tolerate taint gpu=true" in rule.message
    plan = plan_cluster("test", ctx.manifests, pool_file(), CATALOG, model=ctx.model)
    assert [u.name for u in plan.unplaced] == ["Deployment ml/x"] and "gpu=true" in plan.unplaced[0].reason


def test_pod_bigger_than_a_node_is_unplaced() -> None:
    plan = plan_cluster("test", [gpu_deployment("big", 1, gpus=33)], pool_file(), CATALOG)
    assert [u.name for u in plan.unplaced] == ["Deployment ml/big"] and not plan.ok


# ---------------------------------------------------------------- the command on the real repository


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("plan"))


def cli(kustomize_bin: str, *args: str) -> subprocess.CompletedProcess:
    return run_cli("plan", *args, env={"MLPLATFORM_KUSTOMIZE": kustomize_bin})


@pytest.fixture(scope="module")
def plan_json(repo: Path, kustomize_bin: str) -> dict[str, Any]:
    result = cli(kustomize_bin, "--repo", str(repo), "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_json_contract_for_both_clusters(plan_json: dict[str, Any]) -> None:
    body = plan_json
    assert [c["cluster"] for c in body["clusters"]] == ["production", "staging"]
    for cluster in body["clusters"]:
        assert cluster["fits"] and cluster["unplaced"] == []
        for pool in cluster["pools"]:
            assert set(pool["nodes_configured"]) == {"min", "max"}
            assert set(pool["nodes_needed"]) == set(pool["lower_bound"]) == {"min_demand", "max_demand"}
            assert set(pool["cost_usd_per_hour"]) == {"at_min_demand", "at_max_demand"}
            assert pool["nodes_needed"]["max_demand"] <= pool["nodes_configured"]["max"]
            assert pool["lower_bound"]["max_demand"] <= pool["nodes_needed"]["max_demand"]
            for units in pool["gpu_units"]:
                assert {"resource", "available_at_max_size", "requested_at_max_demand"} <= set(units)
        by_name = {p["pool"]: p for p in cluster["pools"]}
        assert by_name["cpu"]["gpu_units"] == []
        assert [u["resource"] for u in by_name["a100-timeslice"]["gpu_units"]] == ["nvidia.com/gpu"]
        assert all(u["resource"].startswith("nvidia.com/mig-") for u in by_name["a100-mig"]["gpu_units"])
        # Declared GPU workloads are in the plan (the apps of issue 5 request GPUs on these pools).
        assert sum(u["requested_at_max_demand"] for p in cluster["pools"] for u in p["gpu_units"]) > 0
        # Nothing asks for an action: the node groups carry the scale-from-zero tags (terraform/modules/
        # node-pools) and the only objects whose pods are not planned are the controllers' HelmReleases.
        assert cluster["warnings"] == [], cluster["warnings"]
        assert {o["object"]["kind"] for o in cluster["not_modelled"]} == {"HelmRelease"}
        # every file the plan reads is good: the plan is complete
        assert cluster["complete"] is True and cluster["input_errors"] == []


def test_markdown_and_text(repo: Path, kustomize_bin: str) -> None:
    md = cli(kustomize_bin, "--repo", str(repo), "--cluster", "staging", "--format", "markdown")
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("## Capacity plan") and "| a100-mig |" in md.stdout
    text = cli(kustomize_bin, "--repo", str(repo), "--cluster", "staging")
    assert "cluster staging (us-east-1): fits" in text.stdout and "total:" in text.stdout


def test_headroom_names_a_single_zone_pool_s_zone_loss(plan_json: dict[str, Any]) -> None:
    # staging's time-slicing pools sit in one zone: losing it leaves nothing, which the table says in words
    # (it showed "0/0 NO", as if the pool needed nothing); a pool in several zones keeps needed/available
    from mlplatform.capacity.output import plan_markdown, plan_text

    staging = next(c for c in plan_json["clusters"] if c["cluster"] == "staging")
    zones = {p["pool"]: p["headroom"]["zone_loss"] for p in staging["pools"] if p.get("headroom")}
    single = [name for name, z in zones.items() if not z["zones_left"]]
    several = [name for name, z in zones.items() if z["zones_left"]]
    assert single and several, zones
    for output in (plan_text([staging]), plan_markdown([staging])):
        # the headroom rows: the first cell is the pool's name ("| cpu | ..." in markdown, "    cpu  ..." in text)
        table = output[output.index("eadroom at maximum demand"):].splitlines()
        cells = [(line.lstrip("| ").split(" ", 1)[0], line) for line in table]
        rows = {name: line for name, line in cells if name in zones}
        for name in single:
            assert f"NO: its only zone ({zones[name]['lost_zone']})" in rows[name], rows[name]
            assert "0/0" not in rows[name]
        for name in several:
            z = zones[name]
            assert f"{z['nodes_needed']}/{z['nodes_available']}" in rows[name], rows[name]


def test_pools_and_the_cluster_name_zones_alike(plan_json: dict[str, Any]) -> None:
    # The EFA pools' zone is one of the cluster's three zone ids (it named us-east-1a, which the plan took for a
    # fourth zone), so every pool's zone-loss row speaks of the same zone, the first of the cluster's.
    for cluster in plan_json["clusters"]:
        spans = [p for p in cluster["pools"] if "availability_zone_ids" in p["zones_source"]]
        assert spans and all(p["zones"] == ["use1-az1", "use1-az2", "use1-az4"] for p in spans)
        single = [p for p in cluster["pools"] if p["zones_source"] == "pool file"]
        assert {p["pool"] for p in single} == {"a100-timeslice", "h100-timeslice", "a100-timeslice-spot"}
        assert all(p["zones"] == ["use1-az1"] for p in single), [p["zones"] for p in single]
        assert {p["headroom"]["zone_loss"]["lost_zone"] for p in cluster["pools"]} == {"use1-az1"}


def test_set_zones_takes_zone_ids(repo: Path, kustomize_bin: str) -> None:
    result = cli(kustomize_bin, "--repo", str(repo), "--cluster", "staging", "--set", "a100-mig.zones=[us-east-1a]")
    assert result.returncode == 2
    assert "us-east-1a is a zone name; use its zone id" in result.stderr
    moved = cli(kustomize_bin, "--repo", str(repo), "--cluster", "staging", "--format", "json",
                "--set", "a100-mig.zones=[use1-az1, use1-az2]")
    assert moved.returncode == 0, moved.stderr
    mig = next(p for p in json.loads(moved.stdout)["clusters"][0]["pools"] if p["pool"] == "a100-mig")
    assert mig["zones"] == ["use1-az1", "use1-az2"] and mig["zones_source"] == "pool file"


def test_set_changes_the_plan_and_can_break_it(repo: Path, kustomize_bin: str) -> None:
    base = json.loads(
        cli(kustomize_bin, "--repo", str(repo), "--cluster", "production", "--format", "json").stdout
    )
    wider = cli(
        kustomize_bin,
        "--repo",
        str(repo),
        "--cluster",
        "production",
        "--format",
        "json",
        "--set",
        "a100-timeslice.max_size=8",
        "--set",
        "a100-timeslice.gpu.replicas=2",
    )
    assert wider.returncode == 0, wider.stderr
    before = next(p for p in base["clusters"][0]["pools"] if p["pool"] == "a100-timeslice")
    after = next(p for p in json.loads(wider.stdout)["clusters"][0]["pools"] if p["pool"] == "a100-timeslice")
    assert after["nodes_configured"]["max"] == 8
    assert after["gpu_units"][0]["available_at_max_size"] == 8 * 8 * 2
    assert before["gpu_units"][0]["available_at_max_size"] == before["nodes_configured"]["max"] * 32
    broken = cli(
        kustomize_bin,
        "--repo",
        str(repo),
        "--cluster",
        "production",
        "--format",
        "json",
        "--set",
        "a100-mig.max_size=0",
        "--set",
        "a100-mig.min_size=0",
    )
    assert broken.returncode == 1
    mig = next(p for p in json.loads(broken.stdout)["clusters"][0]["pools"] if p["pool"] == "a100-mig")
    assert mig["nodes_needed"]["max_demand"] > 0 and any("max_size is 0" in w for w in mig["warnings"])
    markdown = cli(kustomize_bin, "--repo", str(repo), "--format", "markdown", "--set", "a100-mig.max_size=0",
                   "--set", "a100-mig.min_size=0").stdout
    # what does not fit comes first: the short pool before the table
    assert markdown.index("- `a100-mig`: needs ") < markdown.index("| pool |")


def test_markdown_puts_the_cluster_that_does_not_fit_first(plan_json: dict[str, Any]) -> None:
    from mlplatform.capacity.output import plan_markdown

    production, staging = plan_json["clusters"]
    broken = {**staging, "fits": False}
    text = plan_markdown([production, broken])
    assert text.index("### staging (us-east-1): **does not fit**") < text.index("### production")


@pytest.mark.parametrize(
    "setting",
    [
        "nope.max_size=3",
        "cpu.color=blue",
        "cpu.max_size=-1",
        "cpu.max_size",
        'a100-mig.gpu.mig_layout={"3g.40gb": 3}',
        "cpu.instance_type=x1.tiny",
        "a100-mig.zones=[us-east-1a, use1-az2]",
    ],
)
def test_bad_set_exits_2(repo: Path, kustomize_bin: str, setting: str) -> None:
    result = cli(kustomize_bin, "--repo", str(repo), "--set", setting)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    root = copy_repo(tmp_path)
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "base")
    return root


def test_base_ref_diff_through_a_worktree(git_repo: Path, kustomize_bin: str) -> None:
    pools = git_repo / "terraform/environments/staging/node-pools.yaml"
    text = pools.read_text()
    # Raise the A100 time-slicing replicas 4 -> 8 in staging: more GPU units per node, same nodes.
    head_text = text.replace("replicas: 4", "replicas: 8", 1)
    assert head_text != text
    pools.write_text(head_text)
    result = cli(
        kustomize_bin, "--repo", str(git_repo), "--cluster", "staging", "--base", "HEAD", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["base"]["ref"] == "HEAD" and len(body["base"]["commit"]) == 40
    staging = body["base"]["diff"][0]
    a100 = next(p for p in staging["pools"] if p["pool"] == "a100-timeslice")
    units = a100["gpu_units"][0]["available_at_max_size"]
    assert units["head"] == 2 * units["base"] and units["delta"] == units["base"]
    # The worktree is gone and git knows nothing of it.
    assert len(git(git_repo, "worktree", "list").strip().splitlines()) == 1
    md = cli(
        kustomize_bin,
        "--repo",
        str(git_repo),
        "--cluster",
        "staging",
        "--base",
        "HEAD",
        "--format",
        "markdown",
    )
    assert md.stdout.startswith("## Capacity change against HEAD") and "a100-timeslice" in md.stdout


def test_base_diff_says_when_the_head_does_not_fit_instead_of_a_bare_zero_cost(
    git_repo: Path, kustomize_bin: str
) -> None:
    # tgi-batch may scale to 128 replicas instead of 8: a100-timeslice (max_size 4, all four needed at max
    # demand already) needs a fifth node. Billing stops at max_size, so the cost does not move: ±$0.00 alone
    # would read "no extra cost".
    edit_copy(git_repo, "apps/base/inference/tgi-batch/deployment.yaml", "maxReplicaCount: 8", "maxReplicaCount: 128")
    result = cli(
        kustomize_bin, "--repo", str(git_repo), "--cluster", "production", "--base", "HEAD", "--format", "markdown"
    )
    assert result.returncode == 1, result.stderr  # the head does not fit
    body = json.loads(
        cli(kustomize_bin, "--repo", str(git_repo), "--cluster", "production", "--base", "HEAD",
            "--format", "json").stdout
    )
    pool = next(p for p in body["base"]["diff"][0]["pools"] if p["pool"] == "a100-timeslice")
    needed, max_size = pool["nodes_needed"]["max_demand"]["head"], pool["nodes_configured"]["max"]["head"]
    assert needed > max_size and pool["cost_usd_per_hour"]["at_max_demand"]["delta"] == 0
    why = f"does not fit: needs {needed} nodes, max_size {max_size}; cost shown at max_size"
    headline = next(line for line in result.stdout.splitlines() if line.startswith("### production:"))
    assert headline.startswith(f"### production: `a100-timeslice` {why}: ±$0.00/h at max demand"), headline
    row = next(line for line in result.stdout.splitlines() if line.startswith("| a100-timeslice | changed"))
    assert row.endswith(f"| ±$0.00 ({why}) |"), row
    # the terminal table says the same
    text = cli(kustomize_bin, "--repo", str(git_repo), "--cluster", "production", "--base", "HEAD").stdout
    assert f"production: a100-timeslice {why}: ±$0.00/h" in text and f"±$0.00 ({why})" in text


TRITON_SCALEDOBJECT = "apps/base/inference/triton/scaledobject.yaml"


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        # a tab indent at line 10
        ("\n  minReplicaCount: 2\n", "\n\tminReplicaCount: 2\n", ":10: invalid YAML: found a tab character"),
        # a duplicate key at line 11 (yamlio.py turns it into an error)
        ("\n  minReplicaCount: 2\n", "\n  minReplicaCount: 2\n  minReplicaCount: 3\n",
         ":11: duplicate key 'minReplicaCount'"),
    ],
    ids=["tab", "duplicate-key"],
)
def test_a_file_that_does_not_render_makes_the_plan_incomplete_not_fits(
    git_repo: Path, kustomize_bin: str, old: str, new: str, why: str
) -> None:
    # The apps did not render, every pool planned 0 / 0, and the plan said "fits", exit 0, with a warning
    # below the tables; with --base it opened with a saving of $207.95/h.
    assert edit_copy(git_repo, TRITON_SCALEDOBJECT, old, new) == 9  # the replaced text starts at line 9's end
    text = cli(kustomize_bin, "--repo", str(git_repo), "--cluster", "production")
    assert text.returncode == 1, text.stderr
    verdict, first_error = text.stdout.splitlines()[:2]
    assert verdict.startswith("cluster production (us-east-1): plan INCOMPLETE, no verdict: 1 rendering error ("
                              "apps/base/inference/triton/kustomization.yaml:6 render/unreadable-input): the "
                              "figures leave out what did not render"), verdict
    assert "fits" not in verdict
    # the error itself, before the table: the file and line that broke
    assert first_error.startswith("  error: apps/base/inference/triton/kustomization.yaml:6: render/unreadable-input: ")
    assert f"{TRITON_SCALEDOBJECT}{why}" in first_error, first_error
    assert "rendering reported" not in text.stdout  # said once, in the verdict, not again as a warning

    body = json.loads(cli(kustomize_bin, "--repo", str(git_repo), "--cluster", "production",
                          "--format", "json").stdout)
    [production] = body["clusters"]
    assert production["complete"] is False and production["fits"] is True  # keys added, none changed
    [error] = production["input_errors"]
    assert error["source"] == "render" and error["rule"] == "render/unreadable-input"
    assert error["file"] == "apps/base/inference/triton/kustomization.yaml" and error["line"] == 6
    assert production["warnings"][0].startswith("rendering reported 1 error(s)")  # the JSON keeps it

    md = cli(kustomize_bin, "--repo", str(git_repo), "--cluster", "production", "--format", "markdown",
             "--base", "HEAD")
    assert md.returncode == 1, md.stderr
    lines = md.stdout.splitlines()
    diff_head = next(line for line in lines if line.startswith("### production:"))
    # the base is complete, the branch is not: said before any figure, and not as a saving
    assert diff_head.startswith("### production: this branch's plan is incomplete, 1 rendering error ("
                                "apps/base/inference/triton/kustomization.yaml:6 render/unreadable-input): the "
                                "figures leave out what did not render; so the change below is not a real "
                                "saving or cost: -$"), diff_head
    assert "the base's plan" not in diff_head
    plan_head = next(line for line in lines if line.startswith("### production (us-east-1)"))
    assert plan_head.startswith("### production (us-east-1): **plan incomplete**, no verdict: 1 rendering error")
    errors = md.stdout.index("- apps/base/inference/triton/kustomization.yaml:6: render/unreadable-input:")
    assert md.stdout.index(plan_head) < errors < md.stdout.index("| pool | instance")


def test_an_incomplete_base_is_said_in_the_diff_heading_and_does_not_fail_the_branch(
    git_repo: Path, kustomize_bin: str
) -> None:
    # main carries the tab; the branch fixes it: its diff is no real cost, but the branch's plan is fine (exit 0)
    path = git_repo / TRITON_SCALEDOBJECT
    good = path.read_text()
    edit_copy(git_repo, TRITON_SCALEDOBJECT, "\n  minReplicaCount: 2\n", "\n\tminReplicaCount: 2\n")
    git(git_repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-am", "tab")
    path.write_text(good)
    result = cli(kustomize_bin, "--repo", str(git_repo), "--cluster", "production", "--base", "HEAD")
    assert result.returncode == 0, result.stdout + result.stderr
    head = next(line for line in result.stdout.splitlines() if line.startswith("production: "))
    assert head.startswith("production: the base's plan is incomplete, 1 rendering error (apps/base/inference/"
                           "triton/kustomization.yaml:6 render/unreadable-input): the figures leave out what did "
                           "not render; so the change below is not a real saving or cost: +$"), head
    assert result.stdout.startswith("cluster production (us-east-1): fits")


def test_help_says_an_incomplete_plan_is_exit_1() -> None:
    epilog = run_cli("plan", "--help").stdout
    assert "0 every workload is placed, every pool fits its max_size and the plan is complete" in epilog
    assert ("1 something does not fit (unplaced, or max_size too small), or the plan is incomplete (a file that "
            "does not render, pool-file errors: the plan lists them)") in epilog


def test_pool_file_rule_errors_make_the_plan_incomplete(git_repo: Path, kustomize_bin: str) -> None:
    # A zone name: `check` reports pool/zone-id at its line; the plan said "fits" and took us-east-1a for a
    # fourth zone.
    rel = "terraform/environments/production/node-pools.yaml"
    text = (git_repo / rel).read_text()
    line = text[: text.index("zones: [use1-az1]")].count("\n") + 1
    edit_copy(git_repo, rel, "zones: [use1-az1]", "zones: [us-east-1a]", count=text.count("zones: [use1-az1]"))
    zones = text.count("zones: [use1-az1]")
    result = cli(kustomize_bin, "--repo", str(git_repo), "--cluster", "production")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    s = "s" if zones > 1 else ""
    assert lines[0].startswith(f"cluster production (us-east-1): plan INCOMPLETE, no verdict: {zones} pool-file "
                               f"error{s} ({rel}:{line} pool/zone-id"), lines[0]
    assert lines[1].startswith(f"  error: {rel}:{line}: pool/zone-id: pool ")
    assert "'us-east-1a' is a zone name" in lines[1]
    assert len([x for x in lines if x.startswith("  error: ")]) == zones
    body = json.loads(cli(kustomize_bin, "--repo", str(git_repo), "--cluster", "production",
                          "--format", "json").stdout)
    [production] = body["clusters"]
    assert production["complete"] is False
    assert {(e["source"], e["rule"], e["file"]) for e in production["input_errors"]} == {
        ("pool file", "pool/zone-id", rel)}
    # the same errors as `check` reports for the file
    check = run_cli("check", "--repo", str(git_repo), "--format", "json",
                    env={"MLPLATFORM_KUSTOMIZE": kustomize_bin})
    reported = {(f["file"], f["line"], f["rule"]) for f in json.loads(check.stdout)["findings"]
                if f["file"] == rel and f["severity"] == "error"}
    assert reported == {(e["file"], e["line"], e["rule"]) for e in production["input_errors"]}
    # a what-if that puts every such pool back on a zone id plans valid pools; a zone name stays refused
    pools = [p["pool"] for p in production["pools"] if p["zones_source"] == "pool file"]
    fixed = cli(kustomize_bin, "--repo", str(git_repo), "--cluster", "production",
                *[a for p in pools for a in ("--set", f"{p}.zones=[use1-az1]")])
    assert fixed.returncode == 0 and ": fits" in fixed.stdout.splitlines()[0], fixed.stdout[:300]
    named = cli(kustomize_bin, "--repo", str(git_repo), "--cluster", "production", "--set",
                f"{pools[0]}.zones=[us-east-1b]")
    assert named.returncode == 2 and "is a zone name" in named.stderr


def test_base_ref_that_does_not_exist_exits_2_and_leaves_no_worktree(
    git_repo: Path, kustomize_bin: str
) -> None:
    result = cli(kustomize_bin, "--repo", str(git_repo), "--base", "no-such-branch")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: unknown git ref 'no-such-branch'", result.stderr
    assert len(git(git_repo, "worktree", "list").strip().splitlines()) == 1


def test_base_worktree_removed_when_the_base_plan_fails(git_repo: Path, kustomize_bin: str) -> None:
    # Break the committed base (a pool file that is not YAML), keep the working tree good.
    pools = git_repo / "terraform/environments/staging/node-pools.yaml"
    good = pools.read_text()
    pools.write_text("pools: [unclosed\n")
    git(git_repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-am", "broken")
    pools.write_text(good)
    result = cli(kustomize_bin, "--repo", str(git_repo), "--cluster", "staging", "--base", "HEAD")
    assert result.returncode == 2 and "node-pools.yaml" in result.stderr
    assert len(git(git_repo, "worktree", "list").strip().splitlines()) == 1


# ---------------------------------------------------------------- what the text and Markdown say


def _outputs(plan: Any) -> list[str]:
    from mlplatform.capacity.output import plan_markdown, plan_text

    body = plan.to_json()
    return [plan_text([body]), plan_markdown([body])]


def _line(output: str, start: str) -> str:
    """The first line of `output` that starts with `start` (either case) once leading spaces, a Markdown "| "
    or a list's "- " are dropped."""
    return next(line for line in output.splitlines() if line.lstrip("| -").lower().startswith(start.lower()))


def test_the_table_says_what_needed_and_bound_are() -> None:
    # "bound min/max" was explained nowhere in the output: needed is the packing's count, bound the lower
    # bound no placement can go under (capacity/plan.py: lower_bound)
    plan = plan_cluster("test", [gpu_deployment("vllm", 40)], pool_file(), CATALOG)
    for output in _outputs(plan):
        legend = _line(output, "needed: ")
        assert "needed: nodes the packing found" in legend.lower(), legend
        assert "bound: the lower bound it is compared with, no placement uses fewer nodes" in legend, legend
        # the price column is the nodes billed (PoolPlan.billed_nodes): cpu "needed 1 / 2" beside 3 nodes' price
        assert "$/h: the nodes billed, the nodes needed but at least min_size and at most max_size" in legend
        # under the table, before the total
        row = next(line for line in output.splitlines() if "p4d.24xlarge on-demand" in line)  # the pool's row
        assert output.index(row) < output.index(legend)
        assert output.index(legend) < output.index(_line(output, "total: "))


def test_a_pool_without_critical_pods_says_so_in_the_headroom_table() -> None:
    # "-" read as "unknown" or "failed"; the a100 pool has no critical pod, so nothing there has to survive
    plan = plan_cluster("test", [gpu_deployment("vllm", 40)], pool_file(), CATALOG)
    for output in _outputs(plan):
        table = output[output.index("eadroom at maximum demand"):]
        row = _line(table, "a100-timeslice")
        assert row.rstrip(" |").endswith("none critical"), row


def rolling(manifest: Manifest, surge: int, unavailable: int) -> Manifest:
    manifest.obj["spec"]["strategy"] = {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}
    }
    return manifest


def test_a_stalling_rollout_is_named_with_what_stalls_and_that_check_fails_on_it() -> None:
    # 64 pods of one GPU unit fill both nodes of max_size 2 (32 units each): with maxUnavailable 0 not one
    # surge pod fits, so the rollout can neither start a new pod nor stop an old one. The cell said "2/2 NO,
    # 1 stall" and nothing named the Deployment.
    manifests = [rolling(gpu_deployment("vllm", 64), 1, 0)]
    plan = plan_cluster("test", manifests, pool_file(), CATALOG)
    assert plan.ok  # the maximum demand itself fits: check's error is the rollout's
    ctx = ClusterContext(Path("."), Config(repo=Path(".")), "test", manifests, pool_file())
    [finding] = [f for f in check_fit(ctx) if f.severity.value == "error"]
    assert finding.rule == "capacity/rollout"
    for output in _outputs(plan):
        assert "1 rollout stalls (below)" in _line(output[output.index("eadroom at max"):], "a100-timeslice")
        heading = _line(output, "rollouts that stall")
        assert "maxUnavailable 0" in heading and "neither start a new pod nor stop an old one" in heading
        named = output.splitlines()[output.splitlines().index(heading) + 1]
        assert "a100-timeslice: Deployment ml/vllm" in named and f"fails on it: {finding.rule}" in named, named
    # with room for the surge pod (maxUnavailable 1 or fewer replicas) nothing is said
    calm = plan_cluster("test", [rolling(gpu_deployment("vllm", 60), 1, 0)], pool_file(), CATALOG)
    assert not any("stall" in output for output in _outputs(calm))


def test_a_short_pool_s_cost_and_total_say_it_does_not_fit() -> None:
    # 100 pods of one GPU unit need 4 nodes, max_size is 2: billing stops at max_size, so "$/h at max demand"
    # showed the cost of 2 nodes as if it were the price of the demand
    plan = plan_cluster("test", [gpu_deployment("vllm", 100)], pool_file(max_size=2), CATALOG)
    pool = next(p for p in plan.to_json()["pools"] if p["pool"] == "a100-timeslice")
    assert pool["nodes_needed"]["max_demand"] == 4 and pool["nodes_billed"]["max_demand"] == 2
    assert pool["cost_usd_per_hour"]["at_max_demand"] == pytest.approx(2 * 21.9576)  # never 4 nodes
    for output in _outputs(plan):
        row = next(line for line in output.splitlines() if "p4d.24xlarge on-demand" in line)  # the pool's row
        assert row.rstrip(" |").endswith(
            "$43.92 / $43.92 (does not fit: needs 4 nodes, max_size 2; cost shown at max_size)"), row
        assert _line(output, "total: ").endswith("pools that do not fit are priced at their max_size: a100-timeslice")
        assert "does not fit" not in next(line for line in output.splitlines() if "m5.2xlarge" in line)


def test_a_short_pool_is_an_error_in_plan_as_in_check() -> None:
    # plan printed "warning: ... max_size is 2" while check fails with capacity/max-size and plan exits 1
    manifests = [gpu_deployment("vllm", 100)]
    plan = plan_cluster("test", manifests, pool_file(max_size=2), CATALOG)
    ctx = ClusterContext(Path("."), Config(repo=Path(".")), "test", manifests, pool_file(max_size=2))
    [finding] = check_fit(ctx)
    assert finding.rule == RULE_MAX_SIZE and not plan.ok
    body = plan.to_json()
    shortage = "a100-timeslice: maximum demand needs 4 nodes, max_size is 2 (short by 2)"
    units = "nvidia.com/gpu: maximum demand requests 100, 2 nodes offer 64"
    # the JSON is a contract: the same warnings as before, in the same place
    assert body["warnings"][:2] == [shortage, f"a100-timeslice: {units}"]
    text, markdown = _outputs(plan)
    assert f"  error: {shortage}; {units} [`mlplatform check` fails on it: {RULE_MAX_SIZE}]\n" in text
    assert "warning: a100-timeslice: maximum demand" not in text and f"warning: a100-timeslice: {units}" not in text
    assert "warning: a100-timeslice: cluster-autoscaler cannot scale" in text  # the others stay warnings
    assert f"(`mlplatform check` fails on these: `{RULE_MAX_SIZE}`):\n- `a100-timeslice`: needs 4 nodes, max_size 2 " \
           f"(short by 2); {units}\n" in markdown
    todo = markdown[markdown.index("To do:"):markdown.index("| pool |")]
    assert "maximum demand needs" not in todo and units not in todo and "cluster-autoscaler" in todo


def test_gpu_units_beyond_max_size_on_a_pool_whose_nodes_fit_name_check_s_unplaced_error() -> None:
    # one pod per zone (required zone anti-affinity), 5 pods of a whole node's 32 units over 3 zones: 3 nodes
    # within max_size 4, 2 pods left out, 160 units asked of 128. check fails on the pods left out.
    m = gpu_deployment("shard", 5, gpus=32)
    term = {"labelSelector": {"matchLabels": {"a": "shard"}}, "topologyKey": "topology.kubernetes.io/zone"}
    m.obj["spec"]["template"]["spec"]["affinity"] = {
        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    }
    plan = plan_cluster("test", [m], pool_file(max_size=4), CATALOG)
    pool = next(p for p in plan.to_json()["pools"] if p["pool"] == "a100-timeslice")
    assert pool["nodes_needed"]["max_demand"] <= 4 and plan.unplaced
    ctx = ClusterContext(Path("."), Config(repo=Path(".")), "test", [m], pool_file(max_size=4))
    assert RULE_UNPLACED in {f.rule for f in check_fit(ctx)}
    units = "nvidia.com/gpu: maximum demand requests 160, 4 nodes offer 128"
    text, markdown = _outputs(plan)
    assert f"  error: a100-timeslice: {units} [`mlplatform check` fails on it: {RULE_UNPLACED}]" in text
    assert f"warning: a100-timeslice: {units}" not in text
    assert f"GPU units beyond max_size:\n- a100-timeslice: {units} [`mlplatform check` fails on it: {RULE_UNPLACED}]" \
        in markdown


def test_critical_workloads_that_do_not_survive_are_named_with_check_s_rule() -> None:
    # 40 units need both nodes of max_size 2; the pods are critical (the pod label), so losing a node or a
    # zone is check's capacity/failure-headroom error while the cell only said "DO NOT SURVIVE"
    m = gpu_deployment("guard", 40)
    m.obj["spec"]["template"]["metadata"]["labels"]["mlplatform.example.com/critical"] = "true"
    plan = plan_cluster("test", [m], pool_file(), CATALOG)
    ctx = ClusterContext(Path("."), Config(repo=Path(".")), "test", [m], pool_file())
    assert {f.rule for f in check_fit(ctx)} == {"capacity/failure-headroom"}
    for output in _outputs(plan):
        assert _line(output[output.index("eadroom at max"):], "a100-timeslice").rstrip(" |").endswith("DO NOT SURVIVE")
        heading = _line(output, "critical workloads that do not survive")
        named = output.splitlines()[output.splitlines().index(heading) + 1]
        assert named.lstrip("- ") == ("a100-timeslice: Deployment ml/guard (node loss and zone loss) "
                                      "[`mlplatform check` fails on it: capacity/failure-headroom]"), named


def test_a_pool_file_with_sizes_out_of_order_is_an_incomplete_plan_not_a_refused_set(
    git_repo: Path, kustomize_bin: str
) -> None:
    # a newcomer lowered a100-mig's max_size below its min_size: plan exited 2 with one line naming no file, as
    # if a --set had been refused; check reports pool/sizes at the max_size line
    rel = "terraform/environments/production/node-pools.yaml"
    text = (git_repo / rel).read_text()
    start = text.index("  a100-mig:")
    old = text[start:].index("max_size: 4") + start
    line = text[:old].count("\n") + 1
    (git_repo / rel).write_text(text[:old] + "max_size: 1" + text[old + len("max_size: 4"):])
    result = cli(kustomize_bin, "--repo", str(git_repo), "--cluster", "production")
    assert result.returncode == 1, result.stderr
    assert "plan INCOMPLETE" in result.stdout.splitlines()[0], result.stdout[:300]
    assert f"  error: {rel}:{line}: pool/sizes: " in result.stdout
    # a --set that breaks the sizes is still refused (exit 2): the override is the mistake there
    refused = cli(kustomize_bin, "--repo", str(git_repo), "--cluster", "production", "--set", "cpu.max_size=0")
    assert refused.returncode == 2 and "min_size" in refused.stderr, refused.stderr


def test_an_object_that_fails_its_schema_makes_the_plan_incomplete(git_repo: Path, kustomize_bin: str) -> None:
    # a nodeSelector written as a list: check reports schema/invalid at its line and the API server refuses the
    # Deployment, while plan read "fits", exit 0, byte for byte main's plan
    rel = "apps/base/inference/triton/deployment.yaml"
    line = edit_copy(git_repo, rel, "      nodeSelector:\n        workload-type",
                     "      nodeSelector:\n        - workload-type")
    result = cli(kustomize_bin, "--repo", str(git_repo), "--cluster", "production")
    assert result.returncode == 1, result.stdout[:500] + result.stderr
    first = result.stdout.splitlines()[0]
    assert "plan INCOMPLETE" in first and "1 schema error (" in first, first
    assert f"  error: {rel}:{line}: schema/invalid: " in result.stdout
    body = json.loads(cli(kustomize_bin, "--repo", str(git_repo), "--cluster", "production",
                          "--format", "json").stdout)
    [production] = body["clusters"]
    assert [(e["source"], e["rule"], e["file"], e["line"]) for e in production["input_errors"]] == [
        ("schema", "schema/invalid", rel, line)]


def test_the_cost_chart_of_an_incomplete_side_says_so_in_its_title() -> None:
    # the chart under the heading drew the branch's bars at 0 with nothing on the chart itself
    from mlplatform.pictures.plan_mermaid import cost_block

    pool = {"pool": "cpu", "cost_usd_per_hour": {"at_max_demand": {"base": 2.3, "head": 0.0, "delta": -2.3}}}
    diff = {"cluster": "production", "pools": [pool], "complete": {"base": True, "head": False}}
    assert "production: USD per hour at max demand (INCOMPLETE: this PR)" in cost_block(diff)
    diff["complete"] = {"base": True, "head": True}
    assert "INCOMPLETE" not in cost_block(diff)
