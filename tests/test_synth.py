"""benchmarks/synth.py: the synthetic repository checks clean and holds exactly the objects it claims."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from helpers import REPO_ROOT, run_cli

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import synth  # noqa: E402 - a script directory, not a package


def test_groups_split_apps_over_flux_kustomizations() -> None:
    assert synth.groups_of(10, 50) == [range(10)]
    assert synth.groups_of(120, 50) == [range(0, 50), range(50, 100), range(100, 120)]
    assert synth.groups_of(120, 0) == [range(120)]


def test_apps_for_objects_lands_near_the_target() -> None:
    for target, clusters in ((1_000, 1), (10_000, 10), (50_000, 10)):
        size = synth.size_for(clusters, synth.apps_for_objects(target, clusters))
        assert abs(size.objects - target) / target < 0.02, (target, size)


def test_a_grouped_repository_checks_clean_with_the_claimed_object_count(
    tmp_path: Path, crd_schemas: Path, kustomize_bin: str
) -> None:
    repo = tmp_path / "synthetic"
    size = synth.generate(repo, clusters=2, apps=60, per_group=25)
    assert sorted(p.name for p in (repo / "apps" / "synth-001").iterdir()) == ["group-000", "group-001", "group-002"]
    result = run_cli("check", "--repo", str(repo), "--schema-location", str(crd_schemas), "--format", "json",
                     env={"MLPLATFORM_KUSTOMIZE": kustomize_bin})
    report = json.loads(result.stdout)
    assert result.returncode == 0, [f["message"] for f in report["findings"]][:5]
    assert report["info"]["objects"] == {"synth-000": size.objects_per_cluster, "synth-001": size.objects_per_cluster}


def test_scale_benchmark_measures_a_small_repository(kustomize_bin: str, crd_schemas: Path) -> None:
    """benchmarks/scale.py end to end on a tiny size: one row, exit 0, no findings, memory measured."""
    import os
    import subprocess

    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "scale.py"), "--sizes", "150",
         "--schemas", str(crd_schemas)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "MLPLATFORM_KUSTOMIZE": kustomize_bin},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 1, result.stdout
    objects, clusters, _apps, seconds, per_second, max_mib, tree_mib, _kib, code, counts = rows[0]
    assert 140 <= int(objects) <= 160 and clusters == "1" and code == "0" and counts == "0/0"
    # the tree figure is sampled every 20 ms and may miss a short peak: both only have to be measured
    assert float(seconds) > 0 and float(per_second) > 0 and float(max_mib) > 0 and float(tree_mib) > 0
