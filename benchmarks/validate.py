"""Benchmark: `mlplatform validate` of N manifests against merely loading them, and against `kubernetes-validate`.

Usage: python benchmarks/validate.py [N] [--subset M] [--kubernetes-version 1.34] [--crd-schemas DIR]
                                     [--repeat R] [--no-kubernetes-validate]

Generates N manifests (Deployments, Services, ConfigMaps and KEDA ScaledObjects, a CRD kind validated with
the vendored CRD schemas) into a temporary directory, then prints, from one run on one core:
  - issue 14's ratio: `validate` end to end in this process (read, parse, hygiene, schema validation, the
    JSON report) over loading the same files with PyYAML's CSafeLoader (yaml.load_all, nothing else),
    measured alternately R times, best of each (noise on a shared machine only ever adds time); goal
    <= 1.0, target 0.5; and the first, cold run (schemas compiled) as well;
  - the parts: the fast parse (yaml-rs where it vouches for the text), the line-aware parse (what every
    document cost before issue 14), schema validation cold and warm;
  - the `kubernetes-validate` command (strict, same Kubernetes version) on the same files, or on the first
    files holding about M resources when N is larger (it takes tens of milliseconds per resource).
Prints numbers and the load average; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from mlplatform.check import run_validate
from mlplatform.config import load_config
from mlplatform.model import Manifest, Provenance
from mlplatform.report import format_findings
from mlplatform.schema import SchemaValidator, validate_manifests, validate_with
from mlplatform.yamlio import load_documents, load_documents_fast

REPO_ROOT = Path(__file__).resolve().parent.parent
RESOURCES_PER_FILE = 50


class _NoAliasDumper(yaml.SafeDumper):
    """Write shared dicts out in full, as kustomize does: rendered manifests never hold anchors or aliases."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def default_crd_schemas() -> Path:
    return REPO_ROOT / "schemas" / "crds"  # vendored (schemas/crds/README.md)


def resource(index: int) -> dict:
    """The index-th generated object: a realistic mix, all valid, with values that vary by index."""
    name, namespace = f"app-{index:05d}", f"team-{index % 7}"
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": f"svc-{index % 13}"}
    kind = (
        "Deployment",
        "Deployment",
        "Service",
        "ConfigMap",
        "Deployment",
        "Service",
        "ConfigMap",
        "ScaledObject",
    )[index % 8]
    if kind == "Deployment":
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1 + index % 5,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels, "annotations": {"example.com/rev": str(index)}},
                    "spec": {
                        "serviceAccountName": name,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "tolerations": [
                            {"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
                        ],
                        "containers": [
                            {
                                "name": "main",
                                "image": f"registry.example.com/{name}:1.{index % 10}",
                                "args": ["--port=8080", f"--shard={index % 4}"],
                                "ports": [{"name": "http", "containerPort": 8080}],
                                "env": [
                                    {"name": "LOG_LEVEL", "value": "info"},
                                    {"name": "INDEX", "value": str(index)},
                                ],
                                "resources": {
                                    "requests": {"cpu": f"{100 + index % 900}m", "memory": "256Mi"},
                                    "limits": {"memory": "512Mi", "nvidia.com/gpu": index % 2},
                                },
                                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                },
                            }
                        ],
                    },
                },
            },
        }
    if kind == "Service":
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        }
    if kind == "ConfigMap":
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "data": {f"key{k}": f"value-{index}-{k}" for k in range(8)},
        }
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "scaleTargetRef": {"name": name},
            "minReplicaCount": 1,
            "maxReplicaCount": 2 + index % 10,
            "triggers": [
                {
                    "type": "prometheus",
                    "metadata": {
                        "serverAddress": "http://prometheus.monitoring:9090",
                        "query": f'sum(rate(http_requests_total{{app="{name}"}}[1m]))',
                        "threshold": "100",
                    },
                }
            ],
        },
    }


def generate(count: int, directory: Path) -> list[tuple[Path, int]]:
    """Write `count` objects as multi-document files; returns (file, objects in it) in order."""
    files = []
    for start in range(0, count, RESOURCES_PER_FILE):
        docs = [resource(i) for i in range(start, min(start + RESOURCES_PER_FILE, count))]
        path = directory / f"manifests-{start // RESOURCES_PER_FILE:04d}.yaml"
        path.write_text(yaml.dump_all(docs, Dumper=_NoAliasDumper, sort_keys=False), encoding="utf-8")
        files.append((path, len(docs)))
    return files


def load(files: list[Path], reader=load_documents) -> list[Manifest]:  # noqa: ANN001 - a loader function
    manifests = []
    for path in files:
        for doc in reader(path):
            if doc.data is not None:
                manifests.append(Manifest("bench", doc.data, Provenance(path.name, doc.line)))
    return manifests


def pin_to_one_cpu() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this platform)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})  # inherited by the kubernetes-validate child process too
    return f"pinned to CPU {cpu}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "count", nargs="?", type=int, default=5000, help="manifests to generate (default 5000)"
    )
    parser.add_argument("--subset", type=int, default=500, help="most resources to give kubernetes-validate")
    parser.add_argument("--kubernetes-version", default="1.34")
    parser.add_argument("--crd-schemas", type=Path, default=default_crd_schemas())
    parser.add_argument("--repeat", type=int, default=5, help="alternate runs of ours and PyYAML's (best of)")
    parser.add_argument("--no-kubernetes-validate", action="store_true", help="skip the slow comparison")
    args = parser.parse_args(argv)

    kv = shutil.which("kubernetes-validate", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubernetes-validate"
    )
    print(f"cpu: {pin_to_one_cpu()}")
    print(f"kubernetes version: {args.kubernetes_version}; CRD schemas: {args.crd_schemas}")
    with tempfile.TemporaryDirectory(prefix="mlplatform-bench-") as tmp:
        files = generate(args.count, Path(tmp))
        paths = [p for p, _ in files]
        print(f"generated: {args.count} resources in {len(files)} files ({RESOURCES_PER_FILE} per file)")
        locations = [str(args.crd_schemas)] if args.crd_schemas.is_dir() else []

        # .mlplatform.yaml of the temporary "repository": the CRD schemas, as CI passes them
        (Path(tmp) / ".mlplatform.yaml").write_text(f"schema_locations: {locations!r}\n", encoding="utf-8")
        config = load_config(Path(tmp), kubernetes_version=args.kubernetes_version)

        def ours() -> tuple[float, int]:
            started = time.perf_counter()
            result = run_validate(Path(tmp), config, files=paths)
            format_findings(result.findings, "json", info={"objects": result.object_counts})
            return time.perf_counter() - started, len(result.findings)

        def pyyaml_load() -> float:
            started = time.perf_counter()
            for path in paths:
                list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader))
            return time.perf_counter() - started

        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        cold, found = ours()
        mine, theirs_load = [], []
        for _ in range(args.repeat):
            theirs_load.append(pyyaml_load())
            mine.append(ours()[0])
        best_ours, best_load = min(mine), min(theirs_load)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"mlplatform validate, end to end (read, parse, hygiene, schemas, JSON report): cold {cold:.3f} s, "
              f"best of {args.repeat} {best_ours:.3f} s = {args.count / best_ours:,.0f} resources/s; "
              f"{found} findings")
        print(f"PyYAML CSafeLoader load_all of the same files (nothing else): best of {args.repeat} "
              f"{best_load:.3f} s = {args.count / best_load:,.0f} resources/s")
        print(f"RATIO validate / PyYAML load: {best_ours / best_load:.2f} (best of each; cold run "
              f"{cold / best_load:.2f}; issue 14: <= 1.0, target 0.5)")

        start = time.perf_counter()
        load(paths, load_documents_fast)
        fast_parse = time.perf_counter() - start
        start = time.perf_counter()
        manifests = load(paths)
        parsed = time.perf_counter() - start
        start = time.perf_counter()
        findings = validate_manifests(
            manifests, kubernetes_version=args.kubernetes_version, schema_locations=locations, strict=False
        )
        ours_cold = time.perf_counter() - start
        ours_parse, ours_e2e = parsed, best_ours
        count = len(manifests)
        problems = sorted({f.message for f in findings})[:3]
        print(f"mlplatform findings on the generated files: {len(findings)} {problems}")
        print(
            f"mlplatform read + fast parse (no line numbers): {fast_parse:.3f} s = "
            f"{count / fast_parse:,.0f} resources/s"
        )
        print(
            f"mlplatform read + parse YAML (with line numbers): {ours_parse:.3f} s = "
            f"{count / ours_parse:,.0f} resources/s"
        )
        print(
            f"mlplatform schema validation, cold (compile + validate): {ours_cold:.3f} s = "
            f"{count / ours_cold:,.0f} resources/s"
        )

        validator = SchemaValidator(args.kubernetes_version, locations)
        validate_with(validator, manifests[:RESOURCES_PER_FILE])  # compile each kind once
        runs = []
        for _ in range(3):  # best of three: the machine may be shared, and noise only ever adds time
            start = time.perf_counter()
            validate_with(validator, manifests)
            runs.append(time.perf_counter() - start)
        ours_warm = min(runs)
        print(
            f"mlplatform schema validation, warm (validators cached, best of 3): {ours_warm:.3f} s = "
            f"{count / ours_warm:,.0f} resources/s"
        )
        if args.no_kubernetes_validate:
            return 0
        if not kv:
            print("kubernetes-validate: command not found; no comparison")
            return 0
        subset, subset_count = [], 0
        for path, n in files:
            if subset_count >= args.subset:
                break
            subset.append(path)
            subset_count += n
        note = "all files" if subset_count == args.count else f"a subset: the first {subset_count} resources"
        command = [kv, "--strict", "--quiet", "-k", args.kubernetes_version, *map(str, subset)]
        start = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        theirs = time.perf_counter() - start
        theirs_rate = subset_count / theirs
        warnings = completed.stdout.count("WARN")
        failures = completed.stdout.count("ERROR")
        print(
            f"kubernetes-validate --strict ({note}; one process): {subset_count} resources in "
            f"{theirs:.3f} s = "
            f"{theirs_rate:,.1f} resources/s; exit {completed.returncode}, {failures} errors, "
            f"{warnings} warnings (it has no schema for ScaledObject, so those are only looked up)"
        )
        print(
            "ratio, end to end (the command's work: read, parse, validate): "
            f"{count / ours_e2e / theirs_rate:,.1f}x"
        )
        print(f"ratio, schema validation cold: {count / ours_cold / theirs_rate:,.1f}x")
        print(f"ratio, schema validation warm: {count / ours_warm / theirs_rate:,.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
