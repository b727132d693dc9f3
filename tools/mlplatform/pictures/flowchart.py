"""The Flux graph (graph.py) as Mermaid flowchart text or Graphviz DOT text.

Each Kustomization that applies HelmReleases or sources is a box (a Mermaid subgraph, a DOT cluster) holding
its own node and what it applies; Kustomizations it applies stay outside, linked by an `applies` edge, so
the dependsOn chain reads left to right. Nodes with findings carry the counts and a red (error), amber
(warning) or blue dashed (info) border; with a base ref, added/changed/removed nodes are filled green,
yellow or grey.
"""

from __future__ import annotations

from ..graph import ClusterGraph, Edge, Node, crd_label
from .mermaid import Ids, quoted

# Colours: the Tableau 10 palette that Vega uses for its default categorical scheme, so the graph and the
# report's charts agree.
KIND_STYLE = {
    "Kustomization": ("#dbe7f5", "#4e79a7"),
    "HelmRelease": ("#fde9d4", "#f28e2b"),
    "source": ("#e3f0df", "#59a14f"),
}
SEVERITY_STYLE = {"error": "#d62728", "warning": "#e6a700", "info": "#4e79a7"}
STATUS_FILL = {"added": "#c7f0c2", "changed": "#fff2a8", "removed": "#e6e6e6"}
EDGE_STYLE = {
    "source": "stroke:#59a14f,stroke-width:1px",
    "dependsOn": "stroke:#333333,stroke-width:2.5px",
    "applies": "stroke:#9a9a9a,stroke-width:1px,stroke-dasharray:3 3",
    "crds": "stroke:#b07aa1,stroke-width:1.5px,stroke-dasharray:6 3",
    "crds-bad": "stroke:#d62728,stroke-width:2.5px,stroke-dasharray:6 3",
}
LEGEND = (
    "Arrows point from what Flux needs first to what needs it: source -> consumer (green), dependsOn "
    "(thick), applies (dotted grey), CRD provider -> Kustomization applying such resources (purple dashed; "
    "red when no dependsOn chain guarantees the order). Borders: red error, amber warning, blue info."
)


def _kind_key(node: Node) -> str:
    return "source" if node.is_source else node.kind if node.kind in KIND_STYLE else "source"


def _node_text(node: Node) -> str:
    """Name first; the kind shows as the shape and colour (and in words for sources, whose kinds differ)."""
    lines = [node.name]
    where = [] if node.namespace in ("", "flux-system") or node.kind == "Kustomization" else [node.namespace]
    if node.kind == "Kustomization":
        lines.append(node.detail or "Kustomization")
    elif node.kind == "HelmRelease":
        lines.append(" · ".join([*where, node.detail] if node.detail else [*where, "HelmRelease"]))
    else:
        lines.append(" · ".join([node.kind, *where]))
    if node.provides:
        lines.append(crd_label(node.provides).replace("CRDs ", "installs CRDs "))
    if node.findings:
        lines.append(node.findings_text())
    if node.status and node.status != "unchanged":
        lines.append(node.status.upper())
    return "\n".join(lines)


def _holders(graph: ClusterGraph) -> dict[str, list[Node]]:
    """Kustomization id -> the HelmReleases and sources it applies (those are drawn inside its box)."""
    holders: dict[str, list[Node]] = {}
    for node in graph.nodes.values():
        if node.kind != "Kustomization" and node.parent and node.parent in graph.nodes:
            holders.setdefault(node.parent, []).append(node)
    return holders


def _ordered(graph: ClusterGraph) -> list[Node]:
    order = {"Kustomization": 0, "HelmRelease": 2}
    return sorted(graph.nodes.values(), key=lambda n: (order.get(n.kind, 1), n.namespace, n.name))


# ---------------------------------------------------------------- Mermaid


# Mermaid wraps label text at 200 px by default, which folds chart names and paths into tall narrow boxes.
FRONTMATTER = "---\nconfig:\n  flowchart:\n    wrappingWidth: 400\n---\n"


def to_mermaid(graphs: list[ClusterGraph], direction: str = "LR") -> str:
    """One flowchart; with several clusters each is a subgraph of its own."""
    out = [FRONTMATTER + f"flowchart {direction}"]
    edges: list[tuple[str, Edge]] = []
    classes: dict[str, list[str]] = {}
    several = len(graphs) > 1
    for graph in graphs:
        ids = Ids(graph.cluster.replace("-", "_"))
        indent = "  "
        if several:
            out.append(f"  subgraph {ids('cluster')}[{quoted('cluster ' + graph.cluster)}]")
            indent = "    "
        holders = _holders(graph)
        for node in _ordered(graph):
            if node.kind != "Kustomization" and node.parent in holders:
                continue  # drawn inside its Kustomization's box
            members = holders.get(node.id)
            if members:
                out.append(f"{indent}subgraph {ids('box ' + node.id)}[{quoted(node.name)}]")
                out.append(f"{indent}  {_mermaid_node(ids, node)}")
                out.extend(f"{indent}  {_mermaid_node(ids, m)}" for m in sorted(members, key=_member_order))
                out.append(f"{indent}end")
                for member in (node, *members):
                    _classify(classes, ids(member.id), member)
            else:
                out.append(f"{indent}{_mermaid_node(ids, node)}")
                _classify(classes, ids(node.id), node)
        if several:
            out.append("  end")
        edges.extend((graph.cluster, e) for e in graph.edges)
        for edge in graph.edges:
            out.append("  " + _mermaid_edge(ids, edge))
    for name, (fill, stroke) in KIND_STYLE.items():
        out.append(f"  classDef {name} fill:{fill},stroke:{stroke},color:#1a1a1a")
    for status, fill in STATUS_FILL.items():
        extra = ",stroke-dasharray:5 4" if status == "removed" else ""
        out.append(f"  classDef {status} fill:{fill}{extra}")
    for severity, colour in SEVERITY_STYLE.items():
        dash = ",stroke-dasharray:5 3" if severity == "info" else ""
        out.append(f"  classDef {severity} stroke:{colour},stroke-width:3px{dash}")
    for name, mermaid_ids in classes.items():
        out.append(f"  class {','.join(mermaid_ids)} {name}")
    by_style: dict[str, list[str]] = {}
    for index, (_, edge) in enumerate(edges):
        style = "crds-bad" if edge.kind == "crds" and not edge.ok else edge.kind
        by_style.setdefault(style, []).append(str(index))
    for style, indices in by_style.items():
        out.append(f"  linkStyle {','.join(indices)} {EDGE_STYLE[style]}")
    return "\n".join(out) + "\n"


def _member_order(node: Node) -> tuple[int, str, str]:
    return (0 if node.is_source else 1, node.namespace, node.name)


def _classify(classes: dict[str, list[str]], mermaid_id: str, node: Node) -> None:
    """Kind first, then status, then severity: later classes win where they set the same property."""
    classes.setdefault(_kind_key(node), []).append(mermaid_id)
    if node.status in STATUS_FILL:
        classes.setdefault(node.status, []).append(mermaid_id)
    worst = node.worst
    if worst is not None:
        classes.setdefault(worst.value, []).append(mermaid_id)


def _mermaid_node(ids: Ids, node: Node) -> str:
    text = quoted(_node_text(node))
    if node.kind == "HelmRelease":
        return f"{ids(node.id)}({text})"
    if node.is_source:
        return f"{ids(node.id)}[({text})]"
    return f"{ids(node.id)}[{text}]"


def _mermaid_edge(ids: Ids, edge: Edge) -> str:
    a, b = ids(edge.source), ids(edge.target)
    if edge.kind == "dependsOn":
        return f"{a} ==> {b}"
    if edge.kind == "crds":
        return f"{a} -. {quoted(edge.label)} .-> {b}"
    if edge.kind == "applies":
        return f"{a} -.-> {b}"
    return f"{a} --> {b}"


# ---------------------------------------------------------------- Graphviz DOT


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graphs: list[ClusterGraph], direction: str = "LR") -> str:
    out = [
        "digraph flux {",
        f"  graph [rankdir={direction}, fontname=Helvetica, fontsize=11, newrank=true];",
        '  node [fontname=Helvetica, fontsize=10, shape=box, style="rounded,filled"];',
        "  edge [fontname=Helvetica, fontsize=9];",
    ]
    for graph in graphs:
        prefix = graph.cluster

        def ident(nid: str, p: str = prefix) -> str:  # p bound now: the function is defined per cluster
            return _dot_string(f"{p}/{nid}")

        indent = "  "
        if len(graphs) > 1:
            out.append(f"  subgraph {_dot_string('cluster_' + graph.cluster)} {{")
            out.append(f"    label={_dot_string('cluster ' + graph.cluster)};")
            indent = "    "
        holders = _holders(graph)
        for node in _ordered(graph):
            if node.kind != "Kustomization" and node.parent in holders:
                continue
            members = holders.get(node.id)
            if members:
                out.append(f"{indent}subgraph {_dot_string('cluster_' + prefix + '/' + node.id)} {{")
                out.append(f'{indent}  label={_dot_string(node.name)}; style=rounded; color="#9a9a9a";')
                for member in (node, *sorted(members, key=_member_order)):
                    out.append(f"{indent}  {ident(member.id)} [{_dot_attrs(member)}];")
                out.append(f"{indent}}}")
            else:
                out.append(f"{indent}{ident(node.id)} [{_dot_attrs(node)}];")
        if len(graphs) > 1:
            out.append("  }")
        for edge in graph.edges:
            out.append(f"  {ident(edge.source)} -> {ident(edge.target)} [{_dot_edge_attrs(edge)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def _dot_attrs(node: Node) -> str:
    """Each attribute once (a repeated one is legal DOT, but only its last value counts, so the text hid which
    colour was meant): the border is the finding's severity when the node has findings, else its kind's colour,
    as the Mermaid classes do (severity after kind); the fill is the status's with a base, else the kind's."""
    fill, stroke = KIND_STYLE[_kind_key(node)]
    worst = node.worst
    attrs = {
        "label": _dot_string(_node_text(node)),
        "fillcolor": f'"{STATUS_FILL.get(node.status, fill)}"',
        "color": f'"{SEVERITY_STYLE[worst.value] if worst is not None else stroke}"',
    }
    if worst is not None:
        attrs["penwidth"] = "3"
    if node.is_source:
        attrs["shape"] = "cylinder"
    if node.status == "removed":
        attrs["style"] = '"rounded,filled,dashed"'
    return ", ".join(f"{name}={value}" for name, value in attrs.items())


def _dot_edge_attrs(edge: Edge) -> str:
    if edge.kind == "dependsOn":
        return "penwidth=2.5"
    if edge.kind == "applies":
        return 'style=dotted, color="#9a9a9a"'
    if edge.kind == "crds":
        colour = "#b07aa1" if edge.ok else "#d62728"
        return f'style=dashed, color="{colour}", fontcolor="{colour}", label={_dot_string(edge.label)}'
    return 'color="#59a14f"'
