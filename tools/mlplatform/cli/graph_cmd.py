"""`mlplatform graph`: the Flux dependency graph as Mermaid, Graphviz DOT or Markdown for a PR comment."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .check_cmd import open_check_config
from .common import cluster_option, exit_codes, guarded, repo_option

if TYPE_CHECKING:
    from ..graph import ClusterGraph


def markdown(graphs: list[ClusterGraph], title: str, note: str = "") -> str:
    """A heading, the legend and one Mermaid block per cluster (GitHub renders them in a comment)."""
    from ..pictures.flowchart import LEGEND, to_mermaid
    from ..pictures.mermaid import fenced

    out = [f"## {title}", ""]
    if note:
        out += [note, ""]
    for graph in graphs:
        if len(graphs) > 1:
            out += [f"### {graph.cluster}", ""]
        if not graph.nodes:
            out += ["No Flux object changed.", ""]
            continue
        out.append(fenced(to_mermaid([graph])))
    out.append(f"<sub>{LEGEND}</sub>")
    return "\n".join(out) + "\n"


@click.command(name="graph", epilog=exit_codes(
    ok="0 the graph is written (findings are drawn on it, not judged: `check` judges)", findings="1 not used"))
@repo_option
@cluster_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("mermaid", "dot", "markdown"), case_sensitive=False),
    default="mermaid",
    show_default=True,
    help="Mermaid flowchart, Graphviz DOT, or Markdown with Mermaid blocks (for a pull-request comment).",
)
@click.option(
    "--base",
    "base_ref",
    default=None,
    metavar="REF",
    help="Mark what changed against this git ref (rendered in a temporary worktree).",
)
@click.option("--changed", is_flag=True, help="With --base: only changed objects and their neighbours.")
@click.option(
    "--schema-location",
    "schema_locations",
    multiple=True,
    help="CRD schema directory or URL template for the check whose findings mark the nodes (repeatable).",
)
@guarded
def command(
    repo: Path,
    clusters: tuple[str, ...],
    fmt: str,
    base_ref: str | None,
    changed: bool,
    schema_locations: tuple[str, ...],
) -> None:
    """Sources, Kustomizations, HelmReleases, dependsOn and CRD ordering; nodes with findings marked.

    Exit 0 when the graph is written (findings are drawn, not judged: `check` judges), 2 when it cannot be.
    """
    # imported here: every command's module loads with the CLI, and these are only for the graph
    from ..pictures.collect import base_graphs, collect, graphs_against_base
    from ..pictures.flowchart import to_dot, to_mermaid

    if changed and not base_ref:
        raise click.UsageError("--changed needs --base REF")
    config = open_check_config(repo, schema_locations, None, None, None)
    collected = collect(config, list(clusters) or None)
    graphs = [collected.graphs[name] for name in collected.check.clusters]
    note = ""
    if base_ref:
        commit, base = base_graphs(config, base_ref, collected.check.clusters)
        graphs = graphs_against_base(collected.graphs, base, changed)
        note = f"Against `{base_ref}` ({commit[:12]}): added green, changed yellow, removed grey."
    fmt = fmt.lower()
    if fmt == "dot":
        click.echo(to_dot(graphs), nl=False)
    elif fmt == "markdown":
        title = "Flux graph of this change" if base_ref else "Flux graph"
        click.echo(markdown(graphs, title, note), nl=False)
    else:
        if any(not g.nodes for g in graphs):
            # an empty flowchart still renders; say why it is empty where a person will look
            click.echo("no Flux object changed" if base_ref else "no Flux objects found", err=True)
        click.echo(to_mermaid(graphs), nl=False)
