"""Generate docs/workloads.md from the rendered apps of each cluster, so the table cannot drift from them.

Usage: python scripts/workload_table.py [--repo PATH] [--write | --check]
  (no flag)  print the table
  --write    write docs/workloads.md
  --check    exit 1 when docs/workloads.md differs from what the manifests say

Everything in the table is derived: the layer from the source path (apps/base/<layer>/...), the pool
from the scheduling simulation against the cluster's pool file (mlplatform.scheduling.place), GPU resources
from the container limits, replica ranges from the KEDA ScaledObject that owns a Deployment (else the
declared replicas), and the PriorityClass from the pod template.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlplatform.catalog import Catalog, load_catalog
from mlplatform.cluster_render import render_cluster_manifests
from mlplatform.config import load_config
from mlplatform.errors import ToolError
from mlplatform.model import Manifest, Pool
from mlplatform.pools import load_pool_file, pool_file_path
from mlplatform.scheduling import place
from mlplatform.workloads import PodTemplate, containers, pod_templates

CLUSTERS = ("production", "staging")
APPS_KUSTOMIZATION = "apps"  # the Flux Kustomization that applies apps/<cluster>
TYPE_LABEL = "mlplatform.example.com/workload-type"
GPU_PREFIX = "nvidia.com/"
DOC = Path("docs/workloads.md")
# How long the pods of each kind run: services run all the time, jobs until they finish.
_RUNS = {"Deployment": "service", "StatefulSet": "service", "CronJob": "scheduled", "Job": "to completion",
         "PyTorchJob": "to completion", "TFJob": "to completion", "Experiment": "trials"}


@dataclass(frozen=True)
class WorkloadRow:
    layer: str
    workload: str  # Kind namespace/name[/role]
    workload_type: str
    pools: tuple[str, ...]
    gpu: str  # "nvidia.com/mig-3g.40gb x1" per pod, or "-"
    replicas_min: int
    replicas_max: int
    runs: str
    priority: str
    source: str

    def cells(self) -> list[str]:
        return [self.layer, self.workload, self.workload_type, ", ".join(self.pools) or "(none)", self.gpu,
                str(self.replicas_min), str(self.replicas_max), self.runs, self.priority, f"`{self.source}`"]


def layer_of(source_file: str) -> str:
    """apps/base/<layer>/<app>/file.yaml -> <layer>; overlays and anything else -> the directory name."""
    parts = Path(source_file).parts
    if len(parts) >= 3 and parts[0] == "apps" and parts[1] == "base":
        return parts[2]
    return parts[1] if len(parts) > 1 else source_file


def gpu_per_pod(pod_spec: dict[str, Any]) -> dict[str, int]:
    """GPU resources of one pod: the sum over its app containers' limits (GPU requests must equal limits)."""
    total: dict[str, int] = {}
    for _field, _index, container in containers(pod_spec, include_init=False):
        limits = (container.get("resources") or {}).get("limits") or {}
        for name, amount in limits.items():
            if str(name).startswith(GPU_PREFIX):
                total[name] = total.get(name, 0) + int(str(amount))
    return total


ScalerIndex = dict[tuple[str | None, str, str], dict[str, Any]]  # (namespace, kind, name) -> spec


def _scaled_objects(manifests: Iterable[Manifest]) -> ScalerIndex:
    """(namespace, target kind, target name) -> ScaledObject spec."""
    found = {}
    for m in manifests:
        if m.ref.kind == "ScaledObject" and m.ref.group == "keda.sh":
            spec = m.obj.get("spec") or {}
            target = spec.get("scaleTargetRef") or {}
            found[(m.ref.namespace, target.get("kind") or "Deployment", target.get("name"))] = spec
    return found


def replica_range(template: PodTemplate, scalers: ScalerIndex) -> tuple[int, int]:
    ref = template.manifest.ref
    scaler = scalers.get((ref.namespace, ref.kind, ref.name))
    if scaler is not None:
        # KEDA defaults: minReplicaCount 0, maxReplicaCount 100.
        return int(scaler.get("minReplicaCount", 0)), int(scaler.get("maxReplicaCount", 100))
    if template.parallel_trials is not None:  # Katib: trials run parallelTrialCount at a time
        return 0, template.parallel_trials * (template.replicas or 1)
    if ref.kind == "CronJob":
        return 0, template.replicas or 1
    count = template.replicas if template.replicas is not None else 1
    return count, count


def workload_rows(manifests: list[Manifest], pools: list[Pool], catalog: Catalog) -> list[WorkloadRow]:
    apps = [m for m in manifests if m.source.flux_kustomization == APPS_KUSTOMIZATION]
    scalers = _scaled_objects(apps)
    rows = []
    for manifest in apps:
        for template in pod_templates(manifest):
            ref = manifest.ref
            name = f"{ref.namespace}/{ref.name}" + (f"/{template.role}" if template.role else "")
            low, high = replica_range(template, scalers)
            gpus = gpu_per_pod(template.pod_spec)
            rows.append(WorkloadRow(
                layer=layer_of(manifest.source.file),
                workload=f"{ref.kind} {name}",
                workload_type=template.labels.get(TYPE_LABEL, "(untyped)"),
                pools=tuple(sorted(place(template.pod_spec, pools, catalog).fits)),
                gpu=", ".join(f"{k} x{v}" for k, v in sorted(gpus.items())) or "-",
                replicas_min=low,
                replicas_max=high,
                runs=_RUNS.get(ref.kind, ref.kind),
                priority=str(template.pod_spec.get("priorityClassName") or "(none)"),
                source=manifest.source.file,
            ))
    return sorted(rows, key=lambda r: (r.layer, r.workload))


def cluster_rows(repo: Path, cluster: str) -> list[WorkloadRow]:
    config = load_config(repo)
    manifests, _findings = render_cluster_manifests(repo, config, cluster)
    pool_file = load_pool_file(pool_file_path(repo, cluster), repo)
    return workload_rows(manifests, list(pool_file.pools.values()), load_catalog())


_HEADER = ["layer", "workload", "workload type", "pool", "GPU per pod", "min", "max", "runs", "priority",
           "source"]


def markdown(tables: dict[str, list[WorkloadRow]]) -> str:
    lines = [
        "# Workloads",
        "",
        "<!-- Generated by scripts/workload_table.py from the rendered apps and the pool files; do not edit.",
        "     Refresh: .venv/bin/python scripts/workload_table.py --write (a test fails when it drifts). -->",
        "",
        "One row per pod template of `apps/` as Flux applies it to each cluster. **pool**: the pools the",
        "scheduling simulation (`mlplatform.scheduling.place`) lets the pod land on, from its node selector,",
        "tolerations and resources against `terraform/environments/<cluster>/node-pools.yaml`.",
        "**GPU per pod**: the container limits (GPU requests equal limits).",
        "**min/max**: the KEDA ScaledObject's range for autoscaled services, else the declared replicas;",
        "0 for scheduled jobs and Katib trials, whose maximum is the pods running at once (parallelism,",
        "parallel trials x pods per trial).",
        "",
    ]
    for cluster, rows in tables.items():
        lines += [f"## {cluster}", "", "| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
        lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def render_doc(repo: Path) -> str:
    return markdown({cluster: cluster_rows(repo, cluster) for cluster in CLUSTERS})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {DOC}")
    mode.add_argument("--check", action="store_true", help=f"exit 1 when {DOC} is out of date")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    try:
        text = render_doc(repo)
    except ToolError as exc:
        print(f"workload_table: {exc}", file=sys.stderr)
        return 2
    target = repo / DOC
    if args.write:
        target.write_text(text, encoding="utf-8")
        return 0
    if args.check:
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        if current != text:
            print(f"{DOC} is out of date: run python scripts/workload_table.py --write", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
