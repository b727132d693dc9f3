#!/usr/bin/env python3
"""Generate a synthetic platform repository of N clusters x M apps, in this repository's real Flux layout.

    python benchmarks/synth.py OUT --clusters 5 --apps 500

Each cluster gets clusters/<c>/ (Flux sync objects, cluster-vars, infra-controllers -> infra-configs -> apps
Flux Kustomizations with postBuild substitution), infrastructure/{controllers,configs}/<c>/,
apps/<c>/ (an overlay of every app base) and terraform/environments/<c>/node-pools.yaml (the staging pools
of this repository with room for the load). The apps under apps/base/ are a fixed mix meant to pass every
rule: CPU agents, time-sliced GPU research services and highly available MIG inference services, each a
Deployment, Service, ConfigMap and KEDA ScaledObject (plus a PodDisruptionBudget when highly available),
with requests, tolerations, node selection and security contexts like the real apps.
policies/ and .mlplatform.yaml are copied from this repository; the GPU-sharing files are produced by
`mlplatform gen`, so they match the pool files exactly as in the real repository.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
POOL_TEMPLATE = REPO_ROOT / "terraform" / "environments" / "staging" / "node-pools.yaml"
POOL_MAX_NODES = 400  # room for every synthetic app at its maximum scale, so capacity fits

# One entry per app flavour: (workload type, namespace, objects per app). Apps cycle through MIX.
FLAVOURS = {
    "agents": ("agents", 4),
    "research": ("research", 4),
    "production-inference": ("inference", 5),
}
MIX = ["agents"] * 6 + ["research"] * 3 + ["production-inference"]
NAMESPACES = sorted({namespace for namespace, _ in FLAVOURS.values()})
PRIORITY_CLASSES = {"production-inference": 1_000_000}


@dataclass
class SynthSize:
    clusters: int
    apps: int
    objects_per_cluster: int

    @property
    def objects(self) -> int:
        return self.clusters * self.objects_per_cluster


def flavour_of(index: int) -> str:
    return MIX[index % len(MIX)]


def app_objects(apps: int) -> int:
    return sum(FLAVOURS[flavour_of(i)][1] for i in range(apps))


# Objects of a cluster that are not apps: GitRepository + 4 Flux Kustomizations, cluster-vars, namespaces,
# priority classes, the two generated GPU-sharing ConfigMaps, and KEDA (namespace, HelmRepository,
# HelmRelease: the ScaledObject CRD must come from a Flux Kustomization the apps depend on).
FIXED_OBJECTS = 1 + 4 + 1 + len(NAMESPACES) + len(PRIORITY_CLASSES) + 2 + 3
# Apps per Flux Kustomization. kustomize's build time grows faster than linearly with the objects of one
# build (measured with kustomize 5.5: 246 objects 0.8 s, 984 objects 1.9-3.9 s, 1968 objects 23 s), so large
# platforms split their apps over several Flux Kustomizations (per team or layer); so does this generator.
DEFAULT_APPS_PER_KUSTOMIZATION = 50


def groups_of(apps: int, per_group: int) -> list[range]:
    """The apps of each Flux Kustomization; a single group keeps the plain `apps` layout."""
    if per_group <= 0 or apps <= per_group:
        return [range(apps)]
    return [range(start, min(start + per_group, apps)) for start in range(0, apps, per_group)]


def size_for(clusters: int, apps: int, per_group: int = DEFAULT_APPS_PER_KUSTOMIZATION) -> SynthSize:
    extra_flux_kustomizations = len(groups_of(apps, per_group)) - 1
    return SynthSize(clusters, apps, FIXED_OBJECTS + extra_flux_kustomizations + app_objects(apps))


def apps_for_objects(target: int, clusters: int) -> int:
    """The number of apps per cluster that brings the repository closest to `target` rendered objects."""
    per_cluster = max(target // clusters - FIXED_OBJECTS - target // clusters // 220, 1)
    apps = max(int(per_cluster / (sum(FLAVOURS[f][1] for f in MIX) / len(MIX))), 1)
    return apps


def dump_all(path: Path, documents: list[dict], header: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "---\n".join(yaml.safe_dump(d, sort_keys=False, default_flow_style=False) for d in documents)
    path.write_text(header + text)


def kustomization(resources: list[str]) -> dict:
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}


def flux_kustomization(name: str, path: str, depends_on: str | None) -> dict:
    spec: dict = {
        "interval": "10m",
        "retryInterval": "2m",
        "timeout": "10m",
        "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
        "path": path,
        "prune": True,
        "wait": True,
        "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "cluster-vars"}]},
    }
    if depends_on:
        spec = {"dependsOn": [{"name": depends_on}], **spec}
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": spec,
    }


def write_cluster(out: Path, cluster: str, apps: int, per_group: int) -> None:
    base = out / "clusters" / cluster
    dump_all(
        base / "flux-system" / "gotk-sync.yaml",
        [
            {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "metadata": {"name": "flux-system", "namespace": "flux-system"},
                "spec": {
                    "interval": "1m0s",
                    "ref": {"branch": "main"},
                    "secretRef": {"name": "flux-system"},
                    "url": "ssh://git@github.com/example-org/synthetic-platform",
                },
            },
            {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "metadata": {"name": "flux-system", "namespace": "flux-system"},
                "spec": {
                    "interval": "10m0s",
                    "path": f"./clusters/{cluster}",
                    "prune": True,
                    "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                },
            },
        ],
    )
    dump_all(base / "flux-system" / "kustomization.yaml", [kustomization(["gotk-sync.yaml"])])
    dump_all(
        base / "cluster-vars.yaml",
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "cluster-vars", "namespace": "flux-system"},
                "data": {
                    "cluster_name": cluster,
                    "aws_region": "us-east-1",
                    "base_domain": f"{cluster}.example.com",
                },
            }
        ],
    )
    dump_all(
        base / "infrastructure.yaml",
        [
            flux_kustomization("infra-controllers", f"./infrastructure/controllers/{cluster}", None),
            flux_kustomization("infra-configs", f"./infrastructure/configs/{cluster}", "infra-controllers"),
        ],
    )
    groups = groups_of(apps, per_group)
    if len(groups) == 1:
        dump_all(base / "apps.yaml", [flux_kustomization("apps", f"./apps/{cluster}", "infra-configs")])
        dump_all(
            out / "apps" / cluster / "kustomization.yaml",
            [kustomization([f"../base/app-{i:05d}" for i in groups[0]])],
        )
    else:
        flux = []
        for number, group in enumerate(groups):
            flux.append(
                flux_kustomization(f"apps-{number:03d}", f"./apps/{cluster}/group-{number:03d}", "infra-configs")
            )
            dump_all(
                out / "apps" / cluster / f"group-{number:03d}" / "kustomization.yaml",
                [kustomization([f"../../base/app-{i:05d}" for i in group])],
            )
        dump_all(base / "apps.yaml", flux)
    dump_all(
        base / "kustomization.yaml",
        [kustomization(["flux-system", "cluster-vars.yaml", "infrastructure.yaml", "apps.yaml"])],
    )

    dump_all(
        out / "infrastructure" / "controllers" / cluster / "kustomization.yaml",
        [kustomization(["generated", "../base/keda"])],
    )
    dump_all(out / "infrastructure" / "configs" / cluster / "kustomization.yaml", [kustomization(["../base"])])

    pools = yaml.safe_load(POOL_TEMPLATE.read_text())
    pools["cluster"] = cluster
    for pool in pools["pools"].values():
        pool["max_size"] = max(pool["max_size"], POOL_MAX_NODES)
    dump_all(
        out / "terraform" / "environments" / cluster / "node-pools.yaml",
        [pools],
        header=f"# Synthetic pool file of {cluster} (benchmarks/synth.py): the staging pools, scaled up.\n",
    )


KEDA = """\
apiVersion: v1
kind: Namespace
metadata:
  name: keda
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/audit: restricted
    pod-security.kubernetes.io/warn: restricted
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: kedacore
  namespace: keda
spec:
  interval: 12h
  url: https://kedacore.github.io/charts
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: keda
  namespace: keda
  annotations:
    mlplatform.example.com/provides-crds: "keda.sh,eventing.keda.sh"
spec:
  interval: 1h
  chart:
    spec:
      chart: keda
      version: 2.17.2
      sourceRef:
        kind: HelmRepository
        name: kedacore
  install:
    crds: CreateReplace
  upgrade:
    crds: CreateReplace
"""


def write_shared_configs(out: Path) -> None:
    keda = out / "infrastructure" / "controllers" / "base" / "keda"
    keda.mkdir(parents=True)
    (keda / "keda.yaml").write_text(KEDA)
    dump_all(keda / "kustomization.yaml", [kustomization(["keda.yaml"])])
    namespaces = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")},
            },
        }
        for name in NAMESPACES
    ]
    priority = [
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "globalDefault": False,
            "preemptionPolicy": "PreemptLowerPriority",
            "description": f"synthetic {name} workloads",
        }
        for name, value in PRIORITY_CLASSES.items()
    ]
    dump_all(out / "infrastructure" / "configs" / "base" / "namespaces.yaml", namespaces)
    dump_all(out / "infrastructure" / "configs" / "base" / "priority-classes.yaml", priority)
    dump_all(
        out / "infrastructure" / "configs" / "base" / "kustomization.yaml",
        [kustomization(["namespaces.yaml", "priority-classes.yaml"])],
    )


def pod_spec(name: str, flavour: str) -> dict:
    labels = {"app.kubernetes.io/name": name}
    resources: dict = {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }
    spec: dict = {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if flavour == "agents":
        spec["nodeSelector"] = {"workload-type.mlplatform.example.com/agents": "true"}
    elif flavour == "research":
        spec["nodeSelector"] = {"workload-type.mlplatform.example.com/research": "true"}
        spec["tolerations"] = [{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
        for part in ("requests", "limits"):
            resources[part]["nvidia.com/gpu"] = 1
    else:
        spec["nodeSelector"] = {"workload-type.mlplatform.example.com/production-inference": "true"}
        spec["tolerations"] = [{"key": "gpu", "operator": "Equal", "value": "mig", "effect": "NoSchedule"}]
        spec["priorityClassName"] = "production-inference"
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": key,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": labels},
            }
            for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
        ]
        for part in ("requests", "limits"):
            resources[part]["nvidia.com/mig-1g.10gb"] = 1
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
    spec["containers"] = [
        {
            "name": "server",
            "image": "ghcr.io/example-org/synthetic-server:1.0.0",
            # a time-sliced GPU is shared by 4 pods: each caps its share of GPU memory, with vLLM's flag where
            # vLLM runs (the rule gpu-memory-uncapped accepts a flag only in a container running its program)
            **({"command": ["vllm", "serve", "/models/synthetic"]} if flavour == "research" else {}),
            "args": ["--cluster=${cluster_name}", "--domain=${base_domain}", "--port=8080"]
            + (["--gpu-memory-utilization=0.25"] if flavour == "research" else []),
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "envFrom": [{"configMapRef": {"name": name}}],
            "resources": resources,
            "readinessProbe": probe,
            "livenessProbe": {**probe, "periodSeconds": 20},
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
        }
    ]
    return spec


def write_app(out: Path, index: int) -> None:
    name = f"app-{index:05d}"
    flavour = flavour_of(index)
    namespace, _ = FLAVOURS[flavour]
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "synthetic"}
    meta = {"name": name, "namespace": namespace, "labels": labels}
    high_availability = flavour == "production-inference"
    documents = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta,
            "data": {"LOG_LEVEL": "info", "APP_INDEX": str(index), "CLUSTER": "${cluster_name}"},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "revisionHistoryLimit": 3,
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "template": {
                    "metadata": {
                        "labels": {
                            "app.kubernetes.io/name": name,
                            "mlplatform.example.com/workload-type": flavour,
                        }
                    },
                    "spec": pod_spec(name, flavour),
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "selector": {"app.kubernetes.io/name": name},
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": meta,
            "spec": {
                "scaleTargetRef": {"name": name},
                "minReplicaCount": 2 if high_availability else 1,
                "maxReplicaCount": 4,
                "triggers": [{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}}],
            },
        },
    ]
    if high_availability:
        documents.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": meta,
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}}},
            }
        )
    files = {
        "configmap.yaml": documents[0],
        "deployment.yaml": documents[1],
        "service.yaml": documents[2],
        "scaledobject.yaml": documents[3],
    }
    if high_availability:
        files["pdb.yaml"] = documents[4]
    directory = out / "apps" / "base" / name
    for file_name, document in files.items():
        dump_all(directory / file_name, [document])
    dump_all(directory / "kustomization.yaml", [kustomization(sorted(files))])


def run_gen(out: Path) -> None:
    """The GPU-sharing ConfigMaps, written by the tool itself (the real repository commits its output)."""
    mlplatform = Path(sys.executable).parent / "mlplatform"
    result = subprocess.run(
        [str(mlplatform if mlplatform.exists() else "mlplatform"), "gen", "--repo", str(out)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"mlplatform gen failed in {out}: {result.stderr.strip()}")


def generate(
    out: Path,
    clusters: int,
    apps: int,
    gen: bool = True,
    per_group: int = DEFAULT_APPS_PER_KUSTOMIZATION,
) -> SynthSize:
    """Write the synthetic repository into `out` (emptied first) and return its expected size."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "policies", out / "policies")
    shutil.copy(REPO_ROOT / ".mlplatform.yaml", out / ".mlplatform.yaml")
    for index in range(apps):
        write_app(out, index)
    write_shared_configs(out)
    for number in range(clusters):
        write_cluster(out, f"synth-{number:03d}", apps, per_group)
    if gen:
        run_gen(out)
    return size_for(clusters, apps, per_group)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "out", type=Path, nargs="?", help="directory to write (replaced); default: a smoke run in a temp dir"
    )
    parser.add_argument("--clusters", type=int, default=2)
    parser.add_argument("--apps", type=int, default=50, help="apps per cluster")
    parser.add_argument("--no-gen", action="store_true", help="skip `mlplatform gen` (GPU-sharing ConfigMaps)")
    parser.add_argument(
        "--apps-per-kustomization",
        type=int,
        default=DEFAULT_APPS_PER_KUSTOMIZATION,
        help="apps per Flux Kustomization (0: all apps in one)",
    )
    args = parser.parse_args(argv)
    if args.out is None:  # `make bench` runs every benchmark script without arguments: generate and discard
        with tempfile.TemporaryDirectory(prefix="synth-") as tmp:
            size = generate(Path(tmp) / "repo", args.clusters, args.apps, not args.no_gen, args.apps_per_kustomization)
            print(f"(smoke run) {size.clusters} clusters x {size.apps} apps = {size.objects} rendered objects")
        return 0
    size = generate(args.out, args.clusters, args.apps, gen=not args.no_gen, per_group=args.apps_per_kustomization)
    print(f"{args.out}: {size.clusters} clusters x {size.apps} apps = {size.objects} rendered objects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
