"""The observability layer across its objects: Linkerd proxy tracing reaches the OpenTelemetry collector, and
the DCGM series carry the `node` label the GPU alerts join on."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import REPO_ROOT

CLUSTERS = ("production", "staging")


@cache
def _configs(kustomize_bin: str, cluster: str) -> tuple[dict[str, Any], ...]:
    objects: list[dict[str, Any]] = []
    for layer in ("controllers", "configs"):
        path = REPO_ROOT / "infrastructure" / layer / cluster
        cmd = [kustomize_bin, "kustomize", str(path)] if Path(kustomize_bin).name.startswith("kubectl") else [
            kustomize_bin, "build", str(path)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
        objects += [d for d in yaml.safe_load_all(out) if d]
    return tuple(objects)


def _one(objects: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_linkerd_proxies_trace_to_the_meshed_collector(kustomize_bin: str, cluster: str) -> None:
    objects = _configs(kustomize_bin, cluster)
    tracing = _one(objects, "HelmRelease", "linkerd-control-plane")["spec"]["values"]["proxy"]["tracing"]
    collector = _one(objects, "OpenTelemetryCollector", "otel-traces")
    name, namespace = collector["metadata"]["name"], collector["metadata"]["namespace"]

    assert tracing["enabled"] is True
    # The OpenTelemetry Operator names the collector's Service and ServiceAccount <name>-collector.
    host, port = tracing["collector"]["endpoint"].rsplit(":", 1)
    assert host in (f"{name}-collector.{namespace}", f"{name}-collector.{namespace}.svc.cluster.local")
    grpc = collector["spec"]["config"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert grpc.rsplit(":", 1)[1] == port  # the proxies speak OTLP over gRPC
    assert "otlp" in collector["spec"]["config"]["service"]["pipelines"]["traces"]["receivers"]
    # Linkerd exports only to a collector inside the mesh, with this identity
    assert tracing["collector"]["meshIdentity"] == {"serviceAccountName": f"{name}-collector", "namespace": namespace}
    assert collector["spec"]["podAnnotations"]["linkerd.io/inject"] == "enabled"
    assert "serviceAccount" not in collector["spec"]  # the operator's default name is the identity above


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_dcgm_series_are_labelled_with_their_node(kustomize_bin: str, cluster: str) -> None:
    objects = _configs(kustomize_bin, cluster)
    monitor = _one(objects, "HelmRelease", "gpu-operator")["spec"]["values"]["dcgmExporter"]["serviceMonitor"]
    assert monitor["enabled"] is True
    assert {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node", "action": "replace"} in (
        monitor["relabelings"]
    )
    alerts = _one(objects, "PrometheusRule", "gpu-alerts")
    exprs = [r["expr"] for g in alerts["spec"]["groups"] for r in g["rules"]]
    assert not any("Hostname" in e or "hostname" in e for e in exprs)  # the exporter renamed it (#655)
