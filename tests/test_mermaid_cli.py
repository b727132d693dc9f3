"""Every Mermaid block we write is rendered by the official Mermaid CLI (mmdc, npm, on Debian's Chromium):
a syntax error fails here, not in a pull-request comment."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import pictures_env
from helpers import crd_schema_dir, run_cli

pytestmark = pytest.mark.xdist_group("browser")  # one Chromium at a time on a 2-core machine


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo, check=True,
                   capture_output=True)


def _render_markdown(markdown: str, tmp_path: Path, expected_blocks: int) -> None:
    source = tmp_path / "comment.md"
    source.write_text(markdown)
    assert markdown.count("```mermaid") == expected_blocks, markdown
    done = pictures_env.mmdc(source, tmp_path / "rendered.md")
    assert done.returncode == 0, done.stderr + done.stdout
    rendered = (tmp_path / "rendered.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(\./(rendered-\d+\.svg)\)", rendered)
    assert len(images) == expected_blocks, rendered
    for name in images:
        svg = (tmp_path / name).read_text()
        assert svg.startswith("<svg") and "Syntax error" not in svg and len(svg) > 2000, name


def test_graph_of_each_cluster_and_of_all_renders(tmp_path: Path) -> None:
    for cluster in ("production", "staging", "all"):
        selection = [] if cluster == "all" else ["--cluster", cluster]  # all: one subgraph per cluster
        done = run_cli("graph", *selection, "--schema-location", str(crd_schema_dir()))
        assert done.returncode == 0, done.stderr
        source = tmp_path / f"{cluster}.mmd"
        source.write_text(done.stdout)
        out = pictures_env.mmdc(source, tmp_path / f"{cluster}.svg")
        assert out.returncode == 0, out.stderr + out.stdout
        svg = (tmp_path / f"{cluster}.svg").read_text()
        assert "kube-prometheus-stack" in svg and "infra-controllers" in svg


def test_plan_markdown_against_main_and_graph_of_the_change_render(repo_copy: Path, tmp_path: Path) -> None:
    git(repo_copy, "init", "--quiet", "--initial-branch=main")
    git(repo_copy, "add", "-A")
    git(repo_copy, "commit", "--quiet", "-m", "base")
    # The pull request: a third a100-mig node kept warm (min_size and desired_size 2 -> 3, which pool/sizes
    # asks of them together; maximum demand needs 2): the cost at maximum demand moves.
    pools = repo_copy / "terraform/environments/production/node-pools.yaml"
    text = pools.read_text()
    start = text.index("  a100-mig:")
    for key in ("min_size", "desired_size"):
        at = text.index(f"{key}: 2", start)
        text = text[:at] + f"{key}: 3" + text[at + len(f"{key}: 2"):]
    pools.write_text(text)
    plan = run_cli("plan", "--repo", str(repo_copy), "--base", "main", "--format", "markdown")
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.startswith("## Capacity change against main")
    # the cost comparison of production and the GPU-units chart of each cluster
    _render_markdown(plan.stdout, tmp_path, expected_blocks=3)

    graph = run_cli("graph", "--repo", str(repo_copy), "--base", "main", "--changed", "--format", "markdown",
                    "--schema-location", str(crd_schema_dir()))
    assert graph.returncode == 0, graph.stderr
    (tmp_path / "graph").mkdir()
    # a pool file is not a Flux object: nothing in the graph changed, and the comment says so
    assert "No Flux object changed." in graph.stdout
    values = repo_copy / "infrastructure/controllers/base/keda/helmrelease.yaml"
    values.write_text(values.read_text().replace("  interval: 1h\n", "  interval: 2h\n", 1))
    graph = run_cli("graph", "--repo", str(repo_copy), "--base", "main", "--changed", "--format", "markdown",
                    "--schema-location", str(crd_schema_dir()))
    assert graph.returncode == 0, graph.stderr
    _render_markdown(graph.stdout, tmp_path / "graph", expected_blocks=2)


def test_a_syntax_error_fails_the_cli(tmp_path: Path) -> None:
    source = tmp_path / "broken.mmd"
    source.write_text("flowchart LR\n  a[\"unclosed --> b\n")
    done = pictures_env.mmdc(source, tmp_path / "broken.svg")
    assert done.returncode != 0 and "Parse error" in (done.stderr + done.stdout)
