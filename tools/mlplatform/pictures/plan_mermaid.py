"""Mermaid charts for the plan's Markdown (the sticky pull-request comment; GitHub draws Mermaid blocks).

Mermaid's `xychart-beta` draws every bar series of a category at the same place, last on top, and has no
legend; so GPU units are widest first (available, requested at max, requested at min: a bullet chart) with a
line of text saying what the colours are, and the cost comparison puts "base" and "this PR" rows of one
series side by side.
"""

from __future__ import annotations

from typing import Any

from ..capacity.diff import incomplete_sides
from .mermaid import fenced

GREY, ORANGE, BLUE = "#c8c8c8", "#f28e2b", "#4e79a7"  # as in the report's Vega charts


def _category(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def _chart(title: str, categories: list[str], series: list[list[float]], colours: list[str], axis: str) -> str:
    top = max((v for s in series for v in s), default=0) or 1
    lines = [
        "---",
        "config:",
        "  xyChart:",
        "    width: 900",
        f"    height: {max(220, 46 * len(categories) + 90)}",
        "  themeVariables:",
        "    xyChart:",
        f'      plotColorPalette: "{", ".join(colours)}"',
        "---",
        "xychart-beta horizontal",
        f"  title {_category(title)}",
        "  x-axis [" + ", ".join(_category(c) for c in categories) + "]",
        f"  y-axis {_category(axis)} 0 --> {_round_up(top)}",
    ]
    lines += ["  bar [" + ", ".join(_number(v) for v in s) + "]" for s in series]
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _round_up(value: float) -> int:
    """A readable axis end a little above the largest bar."""
    step = 10 ** max(0, len(str(int(value))) - 2)
    return int(-(-value * 1.05 // step) * step) or 1


def gpu_units_block(cluster: dict[str, Any]) -> str:
    """GPU units per pool and resource of one cluster plan (JSON), or "" when it has no GPU pool."""
    categories, available, at_max, at_min = [], [], [], []
    for p in cluster["pools"]:
        for g in p["gpu_units"]:
            categories.append(f"{p['pool']} {g['resource'].removeprefix('nvidia.com/')}")
            available.append(g["available_at_max_size"])
            at_max.append(g["requested_at_max_demand"])
            at_min.append(g["requested_at_min_demand"])
    if not categories:
        return ""
    chart = _chart(
        f"{cluster['cluster']}: GPU units per pool",
        categories,
        [available, at_max, at_min],
        [GREY, ORANGE, BLUE],
        "GPU units",
    )
    return (
        fenced(chart)
        + "\n<sub>grey: available at max_size · orange: requested at max demand · blue: requested at min demand"
        "</sub>\n"
    )


def cost_block(cluster_diff: dict[str, Any]) -> str:
    """USD per hour at maximum demand, base against this pull request, for each pool whose cost moved."""
    categories: list[str] = []
    values: list[float] = []
    for p in cluster_diff["pools"]:
        cost = p["cost_usd_per_hour"]["at_max_demand"]
        if not cost["delta"]:
            continue
        # one series, base and PR rows side by side (a second series would draw a sliver for its zeros)
        categories += [f"{p['pool']}: base", f"{p['pool']}: this PR"]
        values += [float(cost["base"] or 0), float(cost["head"] or 0)]
    if not categories:
        return ""
    # The chart sits under the heading that says a side is incomplete, but is often looked at alone.
    partial = [{"head": "this PR", "base": "base"}[side] for side in incomplete_sides(cluster_diff)]
    note = f" (INCOMPLETE: {' and '.join(partial)})" if partial else ""
    title = f"{cluster_diff['cluster']}: USD per hour at max demand{note}"
    return fenced(_chart(title, categories, [values], [ORANGE], "USD/h"))
