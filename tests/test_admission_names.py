"""What the API server refuses whatever the schema says: names per kind, namespaces, 1 MiB ConfigMaps/Secrets
(admission.py; issue 16, silent acceptance)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import edit_copy, run_cli
from mlplatform.admission import (
    MAX_CONFIG_BYTES,
    NAME_RULE,
    NAMESPACE_RULE,
    SIZE_RULE,
    check_objects,
    name_problem,
)
from mlplatform.model import Manifest, Provenance


@pytest.mark.parametrize(
    ("kind", "name", "why"),
    [
        ("Deployment", "Web", "DNS-1123 subdomain"),
        ("ConfigMap", "a_b", "DNS-1123 subdomain"),
        ("ConfigMap", "-a", "DNS-1123 subdomain"),
        ("ConfigMap", "a" * 254, "at most 253"),
        ("Service", "7web", "DNS-1035 label"),  # a valid subdomain, but a Service name must start with a letter
        ("Service", "web.internal", "DNS-1035 label"),
        ("Service", "w" * 64, "at most 63"),
        ("Namespace", "team.a", "DNS-1123 label"),
        ("Namespace", "n" * 64, "at most 63"),
        ("ClusterRole", "a/b", "may not contain '/'"),
        ("Role", "..", "may not be '..'"),
    ],
)
def test_names_the_api_server_rejects(kind: str, name: str, why: str) -> None:
    problem = name_problem(name, kind)
    assert problem is not None and why in problem


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("Deployment", "web-1.v2"),
        ("ConfigMap", "a" * 253),
        ("Service", "web-2"),
        ("Namespace", "n" * 63),
        ("ClusterRole", "system:aggregate-to-admin"),  # RBAC names are path segments: ':' is fine
        ("Widget", "7-custom.resource"),  # custom resources: subdomains
    ],
)
def test_names_the_api_server_accepts(kind: str, name: str) -> None:
    assert name_problem(name, kind) is None


def manifest(obj: dict, line: int = 3) -> Manifest:
    return Manifest("production", obj, Provenance("apps/x.yaml", line))


def test_findings_name_the_rule_the_object_and_the_source() -> None:
    bad_name = manifest({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "7web", "namespace": "a"}})
    bad_ns = manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "Team_A"}})
    large = manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big", "namespace": "a"},
                      "data": {"blob": "x" * (MAX_CONFIG_BYTES - 1), "more": "yy"}})
    fits = manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok", "namespace": "a"},
                     "data": {"blob": "x" * (MAX_CONFIG_BYTES - 1), "more": "y"}})  # exactly 1 MiB: accepted
    unsubstituted = manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "${cluster}-x"}})
    findings = list(check_objects([bad_name, bad_ns, large, fits, unsubstituted]))
    assert [(f.rule, f.object.name) for f in findings] == [
        (NAME_RULE, "7web"), (NAMESPACE_RULE, "c"), (SIZE_RULE, "big")
    ]
    assert all((f.file, f.line, f.cluster) == ("apps/x.yaml", 3, "production") for f in findings)
    assert "Service name '7web' must be a DNS-1035 label" in findings[0].message
    assert str(MAX_CONFIG_BYTES + 1) in findings[2].message  # values summed over keys (keys not counted)


def test_binary_data_is_counted_decoded() -> None:
    # 1.2 MiB of base64 is 0.9 MiB of data: accepted; 1.5 MiB of base64 is 1.1 MiB: refused.
    def secret(chars: int) -> Manifest:
        return manifest({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "A" * chars}})

    assert list(check_objects([secret(int(1.2 * MAX_CONFIG_BYTES))])) == []
    assert [f.rule for f in check_objects([secret(int(1.5 * MAX_CONFIG_BYTES))])] == [SIZE_RULE]


def test_a_long_hostile_name_is_shown_short_and_printable() -> None:
    hostile = manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a\x00\n" + "b" * 5000}})
    [finding] = check_objects([hostile])
    assert len(finding.message) < 400 and "\n" not in finding.message and "\x00" not in finding.message


@pytest.mark.xdist_group("mutated-copies")
def test_what_a_cluster_rejects_fails_check_at_the_mutated_files(repo_copy: Path, crd_schemas: Path) -> None:
    """Three faults in one copy (a full check is most of this test's time): a Service name that is a DNS-1123
    but not a DNS-1035 label, a ConfigMap over 1 MiB, a Flux path with a trailing space."""
    service = "apps/base/agents/crewai/deployment.yaml"
    service_line = edit_copy(repo_copy, service, "kind: Service\nmetadata:\n  name: crewai\n",
                             "kind: Service\nmetadata:\n  name: 7crewai\n") + 2
    endpoints = "apps/base/agents/shared/endpoints.yaml"
    anchor = "  name: agent-endpoints\n  namespace: agents\ndata:\n"
    big_line = edit_copy(repo_copy, endpoints, anchor, anchor + "  blob: " + "x" * (MAX_CONFIG_BYTES + 1) + "\n") + 2
    flux_file = "clusters/production/apps.yaml"
    path_line = edit_copy(repo_copy, flux_file, "  path: ./apps/production\n", '  path: "./apps/production "\n')
    proc = run_cli("check", "--repo", str(repo_copy), "--format", "json", "--schema-location", str(crd_schemas))
    assert proc.returncode == 1, proc.stderr[-2000:]
    findings = json.loads(proc.stdout)["findings"]

    def where(rule: str) -> set[tuple[str, int]]:
        return {(f["file"], f["line"]) for f in findings if f["rule"] == rule}

    assert where(NAME_RULE) == {(service, service_line)}
    assert next(f for f in findings if f["rule"] == NAME_RULE)["message"].count("DNS-1035") == 1
    assert where(SIZE_RULE) == {(endpoints, big_line)}
    assert where("flux/path-invalid") == {(flux_file, path_line)}
