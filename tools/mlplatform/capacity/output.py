"""Capacity plans and plan diffs as a text table for a terminal and as Markdown for a pull-request comment."""

from __future__ import annotations

from typing import Any

from ..pictures.plan_mermaid import cost_block, gpu_units_block
from .cost import HOURS_PER_MONTH


def _gpu_cell(pool: dict[str, Any]) -> str:
    if not pool["gpu_units"]:
        return "-"
    parts = []
    for g in pool["gpu_units"]:
        short = g["resource"].removeprefix("nvidia.com/")
        parts.append(f"{short} {g['requested_at_max_demand']}/{g['available_at_max_size']}")
    return ", ".join(parts)


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _rows(cluster: dict[str, Any]) -> list[list[str]]:
    rows = []
    for p in cluster["pools"]:
        need, bound, cost = p["nodes_needed"], p["lower_bound"], p["cost_usd_per_hour"]
        rows.append(
            [
                p["pool"],
                f"{p['instance_type']} {p['capacity_type']}",
                f"{p['nodes_configured']['min']}-{p['nodes_configured']['max']}",
                f"{need['min_demand']} / {need['max_demand']}",
                f"{bound['min_demand']} / {bound['max_demand']}",
                _gpu_cell(p),
                f"{_money(cost['at_min_demand'])} / {_money(cost['at_max_demand'])}",
            ]
        )
    return rows


HEADER = [
    "pool",
    "instance",
    "nodes min-max",
    "needed min/max",
    "bound min/max",
    "GPU units requested/available (max)",
    "$/h at min/max demand",
]


def _total_line(cluster: dict[str, Any]) -> str:
    hour = cluster["total"]["cost_usd_per_hour"]
    month = cluster["total"]["cost_usd_per_month"]
    return (
        f"total: {_money(hour['at_min_demand'])}/h - {_money(hour['at_max_demand'])}/h "
        f"({_money(month['at_min_demand'])} - {_money(month['at_max_demand'])} per month of "
        f"{HOURS_PER_MONTH} h)"
    )


HEADROOM_HEADER = ["pool", "rollout", "node loss", "zone loss", "critical workloads"]


def _scenario_cell(h: dict[str, Any]) -> str:
    cell = f"{h['nodes_needed']}/{h['nodes_available']}" + ("" if h["fits"] else " NO")
    return cell


def _zone_cell(zone: dict[str, Any]) -> str:
    """nodes needed/available after losing the zone named; a pool in one zone loses everything with it, where
    "0/0 NO" (nothing packed on no nodes) read like a pool that needs nothing."""
    lost = zone.get("lost_zone")
    if lost is not None and not zone.get("zones_left"):
        return f"NO: its only zone ({lost})"
    return _scenario_cell(zone) + (f" ({lost})" if lost else "")


def _headroom_rows(cluster: dict[str, Any]) -> list[list[str]]:
    """Per pool at maximum demand: nodes needed / nodes available in each scenario (NO: does not fit)."""
    rows = []
    for p in cluster["pools"]:
        h = p.get("headroom")
        if not h:
            continue
        roll = h["rollout"]
        stalls = f", {len(roll['stalls'])} stall" if roll["stalls"] else ""
        critical = [h[k]["critical"] for k in ("node_loss", "zone_loss") if h[k].get("critical")]
        crit = "-" if not critical else ("survive" if all(c["survive"] for c in critical) else "DO NOT SURVIVE")
        rows.append(
            [
                p["pool"],
                f"{roll['nodes_needed']}/{roll['nodes_available']}" + ("" if roll["fits"] else " NO") + stalls,
                _scenario_cell(h["node_loss"]),
                _zone_cell(h["zone_loss"]),
                crit,
            ]
        )
    return rows


def _not_rendered_line(cluster: dict[str, Any]) -> str:
    """The HelmReleases the plan could not see into: their DaemonSets and pods are not in the numbers."""
    names = [r["release"] for r in cluster["helm_releases_not_rendered"]]
    return (f"helm releases not rendered ({len(names)}; their pods and DaemonSets are not planned, "
            f"`mlplatform check --min-severity info` says why): {', '.join(names)}")


def plan_text(clusters: list[dict[str, Any]]) -> str:
    out = []
    for c in clusters:
        verdict = "fits" if c["fits"] else "DOES NOT FIT"
        settings = f" with {', '.join(c['overrides'])}" if c.get("overrides") else ""
        out.append(f"cluster {c['cluster']} ({c['region']}){settings}: {verdict}")
        rows = [HEADER, *_rows(c)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
        for row in rows:
            out.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        out.append("  " + _total_line(c))
        headroom = _headroom_rows(c)
        if headroom:
            out.append("  headroom at maximum demand, nodes needed/available (NO: does not fit):")
            table = [HEADROOM_HEADER, *headroom]
            widths = [max(len(r[i]) for r in table) for i in range(len(HEADROOM_HEADER))]
            for row in table:
                out.append("    " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        for u in c["unplaced"]:
            constraint = f" [{u['constraint']}]" if u.get("constraint") else ""
            out.append(f"  unplaced: {u['workload']} ({u['file']}){constraint}: {u['reason']}")
        for w in c["warnings"]:
            out.append(f"  warning: {w}")
        if c.get("helm_releases_not_rendered"):
            out.append("  " + _not_rendered_line(c))
        out.append(f"  prices: on-demand from the catalog; spot table of {c['prices']['spot_table_date']}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def plan_markdown(clusters: list[dict[str, Any]]) -> str:
    """Clusters that do not fit first, and in each what does not fit and what asks for action before the table."""
    out = ["## Capacity plan", ""]
    for c in sorted(clusters, key=lambda c: c["fits"]):
        verdict = "fits" if c["fits"] else "**does not fit**"
        out.append(f"### {c['cluster']} ({c['region']}): {verdict}")
        out.append("")
        short = [p for p in c["pools"] if p["nodes_needed"]["max_demand"] > p["nodes_configured"]["max"]]
        if short:
            out.append("Pools whose max_size is too small for maximum demand:")
            out.extend(f"- `{p['pool']}`: needs {p['nodes_needed']['max_demand']} nodes, max_size "
                       f"{p['nodes_configured']['max']}" for p in short)
            out.append("")
        if c["unplaced"]:
            out.append("Workloads that fit no pool:")
            out.extend(
                f"- `{u['workload']}` ({u['file']}, {u.get('constraint') or 'node-selection'}): {u['reason']}"
                for u in c["unplaced"]
            )
            out.append("")
        if c["warnings"]:
            out.append("To do:")
            out.extend(f"- {w}" for w in c["warnings"])
            out.append("")
        if c.get("helm_releases_not_rendered"):
            out.append(_not_rendered_line(c))
            out.append("")
        out.append("| " + " | ".join(HEADER) + " |")
        out.append("|" + "---|" * len(HEADER))
        for row in _rows(c):
            out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        out.append("")
        out.append(_total_line(c).capitalize())
        out.append("")
        chart = gpu_units_block(c)
        if chart:
            out.append(chart)
        headroom = _headroom_rows(c)
        if headroom:
            out.append("Headroom at maximum demand, nodes needed/available (NO: does not fit):")
            out.append("")
            out.append("| " + " | ".join(HEADROOM_HEADER) + " |")
            out.append("|" + "---|" * len(HEADROOM_HEADER))
            out.extend("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in headroom)
            out.append("")
    out.append(
        f"_Spot prices: pinned table of {clusters[0]['prices']['spot_table_date']}_" if clusters else ""
    )
    return "\n".join(out).rstrip() + "\n"


def _signed(value: float | int, money: bool = False) -> str:
    if money:
        return f"{'+' if value > 0 else '-' if value < 0 else '±'}${abs(value):,.2f}"
    return f"{value:+d}" if value else "±0"


def _short_at_head(pool: dict[str, Any]) -> str | None:
    """Why the head's cost of a pool understates it: billing stops at max_size, so a pool that needs more
    nodes than that shows the cost of max_size (often ±$0.00), which a reviewer would read as "no extra cost"."""
    needed, max_size = pool["nodes_needed"]["max_demand"]["head"], pool["nodes_configured"]["max"]["head"]
    if needed is None or max_size is None or needed <= max_size:
        return None
    return f"does not fit: needs {needed} nodes, max_size {max_size}; cost shown at max_size"


def diff_text(ref: str, commit: str, diff: list[dict[str, Any]], markdown: bool = False) -> str:
    """The change from the base ref to the working tree, per pool: nodes, GPU units requested and cost."""
    title = f"Capacity change against {ref} ({commit[:12]})"
    out = [f"## {title}" if markdown else title, ""]
    for c in diff:
        total = c["total_cost_usd_per_hour"]
        # Any pool of the head short of nodes, changed or not: the cluster's cost is then capped too.
        short = {p["pool"]: why for p in c["pools"] if (why := _short_at_head(p))}
        verdict = "; ".join(f"`{name}` {why}" if markdown else f"{name} {why}" for name, why in short.items())
        head = (
            f"{c['cluster']}: "
            + (f"{verdict}: " if short else "")
            + f"{_signed(total['at_max_demand']['delta'], True)}/h at max demand "
            f"({_signed(total['at_max_demand']['delta'] * HOURS_PER_MONTH, True)} per month), "
            f"{_signed(total['at_min_demand']['delta'], True)}/h at min demand"
        )
        out.append(f"### {head}" if markdown else head)
        changed = [p for p in c["pools"] if p["status"] != "unchanged"]
        if not changed:
            out.append("no pool changes" if not markdown else "No pool changes.")
            out.append("")
            continue
        header = ["pool", "status", "nodes min/max demand", "GPU units requested (max)", "$/h at max demand"]
        rows = []
        for p in changed:
            need = p["nodes_needed"]
            gpu = (
                ", ".join(
                    f"{g['resource'].removeprefix('nvidia.com/')} "
                    f"{g['requested_at_max_demand']['base'] or 0}->"
                    f"{g['requested_at_max_demand']['head'] or 0}"
                    for g in p["gpu_units"]
                    if g["requested_at_max_demand"]["delta"]
                )
                or "-"
            )
            rows.append(
                [
                    p["pool"],
                    p["status"],
                    f"{need['min_demand']['base'] or 0}->{need['min_demand']['head'] or 0} / "
                    f"{need['max_demand']['base'] or 0}->{need['max_demand']['head'] or 0}",
                    gpu,
                    _signed(p["cost_usd_per_hour"]["at_max_demand"]["delta"], True)
                    + (f" ({short[p['pool']]})" if p["pool"] in short else ""),
                ]
            )
        if markdown:
            out.append("")
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "---|" * len(header))
            out.extend("| " + " | ".join(r) + " |" for r in rows)
            chart = cost_block(c)
            if chart:
                out += ["", chart.rstrip("\n")]
        else:
            table = [header, *rows]
            widths = [max(len(r[i]) for r in table) for i in range(len(header))]
            out.extend(
                "  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in table
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n"
