"""Vega-Lite specifications of the report's charts: capacity per pool, cost, and the GPU packing.

Only data and encodings live here; Vega-Lite (vendored, pinned) compiles them and Vega draws them in the
page. Bars of one row overlap on purpose (stack: null), widest first, so "requested at min demand" sits
inside "requested at max demand" inside "available": a bullet chart from plain bars.
"""

from __future__ import annotations

from typing import Any

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"  # an identifier Vega-Lite reads, never fetched
FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif"
GREY, ORANGE, BLUE, FREE = "#d9d9d9", "#f28e2b", "#4e79a7", "#efefef"
# Tableau 20, the categorical scheme Vega ships; listed so a workload keeps its colour across all charts.
WORKLOAD_COLOURS = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
    "#bab0ac", "#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6", "#8cd17d", "#f1ce63", "#d4a6c8", "#fabfd2",
    "#d7b5a6", "#79706e",
]
CONFIG = {
    "font": FONT,
    "axis": {"labelFontSize": 12, "titleFontSize": 12, "labelLimit": 260},
    "legend": {"labelFontSize": 12, "titleFontSize": 12, "orient": "bottom", "labelLimit": 320},
    "header": {"labelFontSize": 13, "labelFontWeight": "bold", "labelAnchor": "start", "labelOrient": "top"},
    "view": {"stroke": None},
}


def _bullet(
    rows: list[dict[str, Any]],
    series: list[tuple[str, str]],
    *,
    y_title: str,
    x_title: str,
    label: str,
    row_order: list[str],
    fmt: str = ",d",
) -> dict[str, Any]:
    """Overlapping horizontal bars per row, one per series (widest first), and a text label per row."""
    names = [name for name, _ in series]
    return {
        "$schema": SCHEMA,
        "data": {"values": rows},
        "width": 560,
        "height": {"step": 30},
        "config": CONFIG,
        "layer": [
            {
                "transform": [{"fold": names, "as": ["series", "value"]}],
                "mark": {"type": "bar", "height": {"band": 0.7}},
                "encoding": {
                    "y": {"field": "row", "type": "nominal", "sort": row_order, "title": y_title},
                    "x": {"field": "value", "type": "quantitative", "stack": None, "title": x_title,
                          "axis": {"format": fmt}},
                    "color": {
                        "field": "series",
                        "type": "nominal",
                        "title": None,
                        "scale": {"domain": names, "range": [colour for _, colour in series]},
                    },
                    "tooltip": [{"field": "row", "title": y_title}, {"field": "series"},
                                {"field": "value", "format": fmt}],
                },
            },
            {
                "mark": {"type": "text", "align": "left", "dx": 5, "fontSize": 12},
                "encoding": {
                    "y": {"field": "row", "type": "nominal", "sort": row_order},
                    "x": {"field": names[0], "type": "quantitative"},
                    "text": {"field": label, "type": "nominal"},
                },
            },
        ],
    }


def gpu_units_chart(cluster: dict[str, Any]) -> dict[str, Any] | None:
    """GPU units per pool and resource: available at max_size, requested at max and at min demand."""
    rows = []
    for p in cluster["pools"]:
        for g in p["gpu_units"]:
            rows.append(
                {
                    "row": f"{p['pool']} · {g['resource'].removeprefix('nvidia.com/')}",
                    "available at max_size": g["available_at_max_size"],
                    "requested at max demand": g["requested_at_max_demand"],
                    "requested at min demand": g["requested_at_min_demand"],
                    "text": f"{g['requested_at_max_demand']} / {g['available_at_max_size']} "
                    f"(min demand {g['requested_at_min_demand']})",
                }
            )
    if not rows:
        return None
    return _bullet(
        rows,
        [("available at max_size", GREY), ("requested at max demand", ORANGE), ("requested at min demand", BLUE)],
        y_title="pool · GPU resource",
        x_title="GPU units",
        label="text",
        row_order=[r["row"] for r in rows],
    )


def nodes_chart(cluster: dict[str, Any]) -> dict[str, Any]:
    """Nodes per pool: max_size, nodes billed at max and at min demand (min_size keeps a floor)."""
    rows = [
        {
            "row": p["pool"],
            "max_size": p["nodes_configured"]["max"],
            "billed at max demand": p["nodes_billed"]["max_demand"],
            "billed at min demand": p["nodes_billed"]["min_demand"],
            "text": f"{p['nodes_billed']['min_demand']} at min, {p['nodes_billed']['max_demand']} at max demand "
            f"(size {p['nodes_configured']['min']}–{p['nodes_configured']['max']} × {p['instance_type']})",
        }
        for p in cluster["pools"]
    ]
    return _bullet(
        rows,
        [("max_size", GREY), ("billed at max demand", ORANGE), ("billed at min demand", BLUE)],
        y_title="pool",
        x_title="nodes",
        label="text",
        row_order=[r["row"] for r in rows],
    )


def cost_chart(cluster: dict[str, Any]) -> dict[str, Any]:
    """USD per hour per pool at max and at min demand."""
    rows = []
    for p in cluster["pools"]:
        cost = p["cost_usd_per_hour"]
        rows.append(
            {
                "row": p["pool"],
                "$/h at max demand": cost["at_max_demand"],
                "$/h at min demand": cost["at_min_demand"],
                "text": f"${cost['at_min_demand']:,.2f}/h at min, ${cost['at_max_demand']:,.2f}/h at max demand",
            }
        )
    return _bullet(
        rows,
        [("$/h at max demand", ORANGE), ("$/h at min demand", BLUE)],
        y_title="pool",
        x_title="USD per hour",
        label="text",
        row_order=[r["row"] for r in rows],
        fmt="$,.0f",
    )


def workload_colours(workloads: list[str]) -> dict[str, Any]:
    """One colour scale for every packing chart of the page: a workload looks the same everywhere."""
    domain = sorted(set(workloads))
    colours = [WORKLOAD_COLOURS[i % len(WORKLOAD_COLOURS)] for i in range(len(domain))]
    return {"domain": [*domain, "free"], "range": [*colours, FREE]}


def packing_chart(packing: dict[str, Any], colours: dict[str, Any]) -> dict[str, Any]:
    """Each node of a pool as rows of GPUs; each GPU as its MIG instances (placed by memory slice) or its
    time-slicing replicas, coloured and labelled by the workload holding it."""
    slots = packing["slots_per_gpu"]
    states = {n["node"]: n["state"] for n in packing["nodes"]}
    cells = []
    for cell in packing["cells"]:
        state = states.get(cell["node"], "")
        header = cell["node"] if state == "needed" else f"{cell['node']} ({state})"
        label = cell["short"] or "free"
        text = f"{cell['profile']}\n{label}" if packing["sharing"] == "mig" else label
        cells.append({**cell, "header": header, "gpu_label": f"GPU {cell['gpu']}", "text": text})
    unit = packing["unit"]
    ticks = list(range(slots + 1))
    return {
        "$schema": SCHEMA,
        "data": {"values": cells},
        "config": CONFIG,
        "facet": {"row": {"field": "header", "type": "nominal", "title": None, "sort": {"field": "node"}}},
        "spacing": 14,
        "spec": {
            "width": 880,
            "height": {"step": 34 if packing["sharing"] == "mig" else 24},
            "layer": [
                {
                    "mark": {"type": "rect", "stroke": "#ffffff", "strokeWidth": 2, "cornerRadius": 3},
                    "encoding": {
                        "y": {"field": "gpu_label", "type": "ordinal", "title": None,
                              "sort": {"field": "gpu"}},
                        "x": {"field": "start", "type": "quantitative", "title": f"{unit}s of each GPU",
                              "scale": {"domain": [0, slots], "nice": False},
                              "axis": {"values": ticks, "format": "d", "grid": False}},
                        "x2": {"field": "end"},
                        "color": {"field": "workload", "type": "nominal", "title": "held by",
                                  "scale": _present(colours, cells)},
                        "description": {"field": "description"},
                        "tooltip": [{"field": "row", "title": "GPU"}, {"field": "profile"},
                                    {"field": "workload", "title": "held by"}],
                    },
                },
                {
                    "transform": [{"calculate": "(datum.start + datum.end) / 2", "as": "middle"}],
                    "mark": {"type": "text", "fontSize": 11, "lineBreak": "\n", "baseline": "middle",
                             "dy": -6 if packing["sharing"] == "mig" else 0},
                    "encoding": {
                        "y": {"field": "gpu_label", "type": "ordinal", "sort": {"field": "gpu"}},
                        "x": {"field": "middle", "type": "quantitative"},
                        "text": {"field": "text"},
                        "color": {"condition": {"test": "datum.held", "value": "#ffffff"}, "value": "#777777"},
                    },
                },
            ],
        },
    }


def _present(colours: dict[str, Any], cells: list[dict[str, Any]]) -> dict[str, Any]:
    """The page-wide colour scale cut to the workloads of one chart, so its legend lists only those."""
    here = {c["workload"] for c in cells}
    pairs = [(d, r) for d, r in zip(colours["domain"], colours["range"], strict=True) if d in here]
    return {"domain": [d for d, _ in pairs], "range": [r for _, r in pairs]}


def usage_chart(packing: dict[str, Any]) -> dict[str, Any]:
    """Per node: CPU, memory and pods requested (DaemonSets included) as a share of allocatable."""
    rows = []
    for node in packing["nodes"]:
        for u in node["usage"]:
            unit = {"cpu": " cores", "memory": " GiB"}.get(u["resource"], "")
            rows.append(
                {
                    "row": f"{node['node']} · {u['resource']}",
                    "percent": u["percent"],
                    "text": f"{u['used']:g}/{u['allocatable']:g}{unit} ({u['percent']:g}%)",
                }
            )
    return {
        "$schema": SCHEMA,
        "data": {"values": rows},
        "config": CONFIG,
        "width": 420,
        "height": {"step": 20},
        "layer": [
            {"mark": {"type": "bar", "color": GREY, "height": {"band": 0.7}},
             "encoding": {"y": {"field": "row", "type": "nominal", "sort": None, "title": None},
                          "x": {"datum": 100, "type": "quantitative", "scale": {"domain": [0, 100]},
                                "title": "% of allocatable requested"}}},
            {"mark": {"type": "bar", "color": BLUE, "height": {"band": 0.7}},
             "encoding": {"y": {"field": "row", "type": "nominal", "sort": None},
                          "x": {"field": "percent", "type": "quantitative",
                                "title": "% of allocatable requested"}}},
            {"mark": {"type": "text", "align": "left", "dx": 5, "fontSize": 11},
             "encoding": {"y": {"field": "row", "type": "nominal", "sort": None},
                          "x": {"datum": 100, "type": "quantitative"}, "text": {"field": "text"}}},
        ],
    }
