"""`mlplatform graph`: the Flux graph of this repository, findings on nodes, Mermaid and DOT text, --base."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import REPO_ROOT, crd_schema_dir, run_cli
from mlplatform.config import load_config
from mlplatform.graph import ClusterGraph, Edge, Node
from mlplatform.pictures.collect import collect
from mlplatform.pictures.flowchart import to_dot, to_mermaid
from mlplatform.pictures.mermaid import Ids, label


@pytest.fixture(scope="module")
def production() -> ClusterGraph:
    config = load_config(REPO_ROOT, schema_locations=[str(crd_schema_dir())])
    return collect(config, ["production"]).graphs["production"]


def _ids(graph: ClusterGraph, kind: str) -> set[str]:
    return {n.name for n in graph.nodes.values() if n.kind == kind}


def test_graph_holds_the_flux_objects_and_their_order(production: ClusterGraph) -> None:
    assert {"flux-system", "infra-controllers", "infra-configs", "apps"} <= _ids(production, "Kustomization")
    assert {"kube-prometheus-stack", "gpu-operator", "keda", "cert-manager"} <= _ids(production, "HelmRelease")
    assert {"flux-system", "prometheus-community"} <= {n.name for n in production.nodes.values() if n.is_source}
    edges = {(e.source, e.target, e.kind) for e in production.edges}
    ks = "Kustomization:flux-system/"
    assert (ks + "infra-controllers", ks + "infra-configs", "dependsOn") in edges
    assert (ks + "infra-configs", ks + "apps", "dependsOn") in edges
    assert ("GitRepository:flux-system/flux-system", ks + "apps", "source") in edges
    hr = "HelmRelease:monitoring/kube-prometheus-stack"
    assert ("HelmRepository:monitoring/prometheus-community", hr, "source") in edges
    assert (hr, "HelmRelease:gpu-operator/gpu-operator", "dependsOn") in edges
    # CRD ordering: apps uses keda.sh (ScaledObjects), installed by the keda release in infra-controllers,
    # which apps reaches through infra-configs: drawn, and satisfied.
    crds = {(e.source, e.target): e for e in production.edges if e.kind == "crds"}
    apps_from_controllers = crds[(ks + "infra-controllers", ks + "apps")]
    assert "keda.sh" in apps_from_controllers.label and apps_from_controllers.ok
    assert all(e.ok for e in crds.values())
    # the HelmReleases sit in the box of the Kustomization that applies them
    assert production.nodes[hr].parent == ks + "infra-controllers"


def test_findings_of_the_check_mark_their_nodes(production: ClusterGraph) -> None:
    # flux/external-source (info) is reported on both kubeflow Kustomizations of this repository
    katib = production.nodes["Kustomization:flux-system/kubeflow-katib"]
    assert katib.findings.get("info") == 1 and "flux/external-source" in katib.rules
    assert "1 info" in to_mermaid([production])


def test_mermaid_text_is_safe_for_hostile_names() -> None:
    graph = ClusterGraph("c")
    nasty = 'x"];click a href "javascript:alert(1)"#<b>'
    graph.nodes["Kustomization:ns/a"] = Node("Kustomization:ns/a", "Kustomization", "ns", "a", detail=nasty)
    graph.nodes["Kustomization:ns/end"] = Node("Kustomization:ns/end", "Kustomization", "ns", "end")
    graph.add_edge(Edge("Kustomization:ns/a", "Kustomization:ns/end", "dependsOn"))
    text = to_mermaid([graph])
    assert '"' not in label(nasty) and "<b>" not in label(nasty)
    assert "#quot;" in text and "#35;" in text and "#lt;b#gt;" in text
    # ids carry a prefix, so a node named "end" cannot close a subgraph
    assert re.search(r"^\s+c_Kustomization_ns_end\[", text, re.M)
    ids = Ids("p")
    assert ids("a-b") != ids("a_b")  # distinct keys never share an id


def test_dot_output_is_read_by_graphviz(production: ClusterGraph, tmp_path: Path) -> None:
    dot = shutil.which("dot")
    if dot is None:
        pytest.fail("Graphviz `dot` not found: run `make test` (scripts/ensure-pictures.sh installs it)")
    source = tmp_path / "flux.dot"
    source.write_text(to_dot([production]))
    done = subprocess.run([dot, "-Tsvg", str(source)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # Graphviz writes "-" as &#45; in SVG text
    assert "kube&#45;prometheus&#45;stack" in done.stdout and done.stderr == ""


def _dot_node_attrs(text: str) -> dict[str, list[str]]:
    """Node id -> the attribute names of its statement, in order (edge statements have "->")."""
    nodes: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = re.fullmatch(r'\s*("(?:[^"\\]|\\.)*") \[(.*)\];', line)
        if match and " -> " not in line:
            # attribute names: `name=` outside quoted values
            unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', match.group(2))
            nodes[match.group(1)] = re.findall(r"(\w+)=", unquoted)
    return nodes


def test_dot_nodes_name_each_attribute_once_and_findings_colour_the_border(production: ClusterGraph) -> None:
    # a node with findings drew its kind's border colour and then the severity's: Graphviz keeps the last
    graph = ClusterGraph("c")
    for status, findings in (("removed", {"error": 1}), ("added", {"warning": 2}), ("", {"info": 1}), ("", {})):
        name = f"{status or 'same'}-{'-'.join(findings) or 'clean'}"
        graph.nodes[f"HelmRepository:ns/{name}"] = Node(f"HelmRepository:ns/{name}", "HelmRepository", "ns", name,
                                                          findings=findings, status=status)
    nodes = {**_dot_node_attrs(to_dot([production])), **_dot_node_attrs(to_dot([graph]))}
    assert len(nodes) > len(production.nodes) // 2  # the parser reads the node lines
    repeated = {node: names for node, names in nodes.items() if len(names) != len(set(names))}
    assert not repeated, repeated
    text = to_dot([graph])
    assert re.search(r'"c/HelmRepository:ns/removed-error" \[[^\n]*fillcolor="#e6e6e6", color="#d62728", '
                     r'penwidth=3, shape=cylinder, style="rounded,filled,dashed"\];', text)
    assert re.search(r'"c/HelmRepository:ns/added-warning" \[[^\n]* color="#e6a700", penwidth=3', text)
    assert re.search(r'"c/HelmRepository:ns/same-clean" \[[^\n]* color="#59a14f", shape=cylinder\];', text)
    dot = shutil.which("dot")
    if dot is None:
        pytest.fail("Graphviz `dot` not found: run `make test` (scripts/ensure-pictures.sh installs it)")
    done = subprocess.run([dot, "-Tsvg"], input=text, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    # the severity's border reaches the drawing: the removed node with an error is outlined red
    assert 'stroke="#d62728"' in done.stdout


def test_missing_depends_on_turns_the_crd_edge_red_and_marks_apps(repo_copy: Path) -> None:
    apps = repo_copy / "clusters/production/apps.yaml"
    text = apps.read_text()
    mutated = text.replace("  dependsOn:\n    - name: infra-configs\n", "")
    assert mutated != text
    apps.write_text(mutated)
    done = run_cli("graph", "--repo", str(repo_copy), "--cluster", "production",
                   "--schema-location", str(crd_schema_dir()))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    apps_id = "production_Kustomization_flux_system_apps"
    assert re.search(rf"class [^\n]*\b{apps_id}\b[^\n]* error$", out, re.M), "apps not marked as error"
    red = re.search(r"linkStyle ([\d,]+) stroke:#d62728", out)
    assert red is not None
    edges = [line.strip() for line in out.splitlines() if " -. " in line or " --> " in line or " ==> " in line
             or " -.-> " in line]
    red_edges = [edges[int(i)] for i in red.group(1).split(",")]
    assert any(e.startswith("production_Kustomization_flux_system_infra_controllers -. ") and e.endswith(apps_id)
               for e in red_edges), red_edges


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo, check=True,
                   capture_output=True)


def test_base_marks_what_the_change_touched(repo_copy: Path) -> None:
    git(repo_copy, "init", "--quiet", "--initial-branch=main")
    git(repo_copy, "add", "-A")
    git(repo_copy, "commit", "--quiet", "-m", "base")
    release = repo_copy / "infrastructure/controllers/base/keda/helmrelease.yaml"
    text = release.read_text()
    assert "  interval: 1h\n" in text
    release.write_text(text.replace("  interval: 1h\n", "  interval: 2h\n", 1))  # the HelmRelease's
    done = run_cli("graph", "--repo", str(repo_copy), "--cluster", "production", "--base", "main", "--changed",
                   "--format", "markdown", "--schema-location", str(crd_schema_dir()))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("## Flux graph of this change") and "```mermaid" in out
    assert re.search(r"production_HelmRelease_keda_keda\(\"keda<br/>[^\n]*CHANGED", out)
    assert "gpu-operator" not in out  # unchanged and not a neighbour of keda: left out by --changed
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=repo_copy, capture_output=True, text=True)
    assert len(worktrees.stdout.strip().splitlines()) == 1


def test_changed_needs_base() -> None:
    done = run_cli("graph", "--repo", str(REPO_ROOT), "--changed")
    assert done.returncode == 2 and "--changed needs --base" in done.stderr
