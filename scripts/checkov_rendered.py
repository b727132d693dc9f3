"""Run the real checkov (kubernetes framework) over our own workloads as Flux renders them for each cluster.

Usage: python scripts/checkov_rendered.py [--checkov PATH] [--schema-location DIR] [--repo PATH]
                                          [--cluster NAME ...] [--keep DIR]

Renders apps/ of every cluster with mlplatform's renderer (the real kustomize plus Flux postBuild
substitution), writes one object per file into a temporary directory (plus, for kinds checkov does not
know, such as PyTorchJob, TFJob and Katib's Experiment, their pod templates as Pods), runs checkov on it,
prints checkov's summary and every failed check with the source file a person edits, and exits 1 on any
failed check (2 when it cannot run). Skips are inline on the objects:
`checkov.io/skip<N>: CKV_K8S_<id>=<reason>`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlplatform.cluster_render import render_cluster_manifests
from mlplatform.config import load_config
from mlplatform.errors import ToolError
from mlplatform.model import Manifest, ObjectRef
from mlplatform.workloads import pod_templates

REPO = Path(__file__).resolve().parent.parent
CLUSTERS = ("production", "staging")
APPS_KUSTOMIZATION = "apps"
CHECKOV_TIMEOUT_SECONDS = 600
CHECKOV_ANNOTATION = "checkov.io/skip"
# Kinds checkov's kubernetes framework scans for pod settings itself.
NATIVE_KINDS = frozenset({"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
                          "ReplicationController", "PodTemplate"})


@dataclass(frozen=True)
class FailedCheck:
    check_id: str
    name: str
    cluster: str
    resource: str
    source: str


def default_checkov() -> str:
    return os.environ.get("CHECKOV") or str(REPO / ".venv-checkov" / "bin" / "checkov")


def app_manifests(repo: Path, cluster: str, schema_locations: list[str]) -> list[Manifest]:
    """Our workloads (the `apps` Kustomization) plus the NetworkPolicies already governing their namespaces.

    The namespace baseline (default deny and its allowances) is applied by infra-configs, not by apps;
    checkov's graph check CKV2_K8S_6 (a pod without a NetworkPolicy) sees it only when it is in the scan.
    """
    overrides = {"schema_locations": schema_locations} if schema_locations else {}
    manifests, _findings = render_cluster_manifests(repo, load_config(repo, **overrides), cluster)
    apps = [m for m in manifests if m.source.flux_kustomization == APPS_KUSTOMIZATION]
    namespaces = {m.ref.namespace for m in apps if m.ref.namespace}
    baseline = [m for m in manifests if m.source.flux_kustomization != APPS_KUSTOMIZATION
                and m.ref.kind == "NetworkPolicy" and m.ref.namespace in namespaces]
    return apps + baseline


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def pods_of_custom_resources(manifest: Manifest) -> list[dict[str, Any]]:
    """checkov knows the core workload kinds only: the pod templates inside training jobs and Katib
    experiments are checked as Pods, carrying the object's checkov skips (annotations) with them."""
    if manifest.ref.kind in NATIVE_KINDS:
        return []
    skips = {k: v for k, v in manifest.annotations.items() if k.startswith(CHECKOV_ANNOTATION)}
    pods = []
    for template in pod_templates(manifest):
        suffix = f"-{template.role.lower()}" if template.role else "-trial"
        metadata = {"name": f"{manifest.ref.name}{suffix}", "namespace": manifest.ref.namespace,
                    "labels": dict(template.pod_metadata.get("labels") or {}),
                    "annotations": {**(template.pod_metadata.get("annotations") or {}), **skips}}
        pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template.pod_spec})
    return pods


def write_objects(out_dir: Path, cluster: str, manifests: list[Manifest]) -> dict[str, str]:
    """One object per file (so checkov's file names identify the object); returns rendered file -> source."""
    target = out_dir / cluster
    target.mkdir(parents=True, exist_ok=True)
    sources = {}
    index = 0
    for manifest in manifests:
        for obj in [manifest.obj, *pods_of_custom_resources(manifest)]:
            ref = ObjectRef.of(obj)
            name = f"{index:04d}-{_safe(ref.kind)}-{_safe(ref.namespace or '_')}-{_safe(ref.name)}.yaml"
            (target / name).write_text(yaml.safe_dump(obj, sort_keys=False), encoding="utf-8")
            sources[f"/{cluster}/{name}"] = f"{manifest.source.file}:{manifest.source.line}"
            index += 1
    return sources


def run_checkov(checkov: str, directory: Path) -> dict[str, Any]:
    command = [checkov, "--directory", str(directory), "--framework", "kubernetes", "--output", "json",
               "--quiet", "--compact", "--skip-download"]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=CHECKOV_TIMEOUT_SECONDS)
    except FileNotFoundError as exc:
        raise ToolError(f"checkov not found at {checkov}: run `make setup` or pass --checkov") from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"checkov did not finish within {CHECKOV_TIMEOUT_SECONDS} s") from exc
    # checkov exits 1 when checks fail; anything else without JSON on stdout is a crash.
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ToolError(f"checkov failed (exit {proc.returncode}): {tail[0]}") from exc
    if isinstance(report, list):  # one entry per framework when several ran
        report = next((r for r in report if r.get("check_type") == "kubernetes"), report[0] if report else {})
    return report


def failed_checks(report: dict[str, Any], sources: dict[str, str]) -> list[FailedCheck]:
    failed = []
    for item in (report.get("results") or {}).get("failed_checks") or []:
        rendered = item.get("file_path", "")
        cluster = rendered.strip("/").split("/", 1)[0]
        failed.append(FailedCheck(item.get("check_id", "?"), item.get("check_name", ""), cluster,
                                  item.get("resource", ""), sources.get(rendered, rendered)))
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", default=default_checkov(), help="checkov executable")
    parser.add_argument("--schema-location", action="append", default=[],
                        help="CRD schema directory for rendering (as `mlplatform check --schema-location`)")
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--cluster", action="append", choices=CLUSTERS, help="default: every cluster")
    parser.add_argument("--keep", type=Path, help="write the rendered objects here and keep them")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    clusters = args.cluster or list(CLUSTERS)
    try:
        with tempfile.TemporaryDirectory(prefix="checkov-apps-") as tmp:
            out_dir = args.keep.resolve() if args.keep else Path(tmp)
            sources: dict[str, str] = {}
            for cluster in clusters:
                manifests = app_manifests(repo, cluster, args.schema_location)
                if not manifests:
                    raise ToolError(f"{cluster}: no objects rendered from apps/{cluster}")
                sources.update(write_objects(out_dir, cluster, manifests))
            report = run_checkov(args.checkov, out_dir)
    except ToolError as exc:
        print(f"checkov_rendered: {exc}", file=sys.stderr)
        return 2
    summary = report.get("summary") or {}
    failed = failed_checks(report, sources)
    print(f"checkov over rendered apps ({', '.join(clusters)}; {len(sources)} objects): "
          f"passed {summary.get('passed', 0)}, failed {summary.get('failed', 0)}, "
          f"skipped {summary.get('skipped', 0)}, resources {summary.get('resource_count', 0)}")
    for check in sorted(failed, key=lambda c: (c.source, c.check_id, c.cluster)):
        print(f"FAILED {check.check_id} {check.cluster} {check.resource} ({check.source}): {check.name}")
    return 1 if failed or summary.get("failed", 0) else 0


if __name__ == "__main__":
    sys.exit(main())
