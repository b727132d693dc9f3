"""Capacity plans and plan diffs as a text table for a terminal and as Markdown for a pull-request comment."""

from __future__ import annotations

from typing import Any

from ..pictures.plan_mermaid import cost_block, gpu_units_block
from .cost import HOURS_PER_MONTH
from .diff import incomplete_sides
from .inputs import POOL_FILE, RENDER, SCHEMA, render_warning
from .plan import shortfall_warnings


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


def _short(pool: dict[str, Any]) -> bool:
    """The pool's maximum demand needs more nodes than its max_size."""
    return bool(pool["nodes_needed"]["max_demand"] > pool["nodes_configured"]["max"])


def _short_note(needed: int, max_size: int) -> str:
    """Why a pool's cost understates it: billing stops at max_size (plan.PoolPlan.billed_nodes), so a pool that
    needs more nodes shows the cost of max_size, which reads as the price of its demand."""
    return f"does not fit: needs {needed} nodes, max_size {max_size}; cost shown at max_size"


def _cost_cell(pool: dict[str, Any]) -> str:
    cost = pool["cost_usd_per_hour"]
    cell = f"{_money(cost['at_min_demand'])} / {_money(cost['at_max_demand'])}"
    if _short(pool):
        cell += f" ({_short_note(pool['nodes_needed']['max_demand'], pool['nodes_configured']['max'])})"
    return cell


def _shortfalls(pool: dict[str, Any]) -> list[str]:
    """The pool's warnings that `check` fails on, made by the planner's own function from the JSON's figures."""
    return shortfall_warnings(pool["nodes_needed"]["max_demand"], pool["nodes_configured"]["max"],
                              pool["binding_constraint"]["max_demand"], pool["gpu_units"])


def _errors(cluster: dict[str, Any]) -> tuple[list[tuple[dict[str, Any], str]], list[str]]:
    """The cluster's warnings split into the ones `check` fails on (one line per pool, with the rule, beside
    the pool) and the others.

    The JSON keeps both in `warnings` (its contract); printed as "warning", a pool short of max_size read as
    advisory while `check` reports it as an error and `plan` exits 1."""
    errors: list[tuple[dict[str, Any], str]] = []
    taken: set[str] = set()
    for p in cluster["pools"]:
        shortfalls = _shortfalls(p)
        if not shortfalls:
            continue
        taken.update(f"{p['pool']}: {w}" for w in shortfalls)
        # GPU units beyond max_size on a pool whose nodes fit: pods the packing left out, capacity/unplaced
        rule = "capacity/max-size" if _short(p) else "capacity/unplaced"
        errors.append((p, f"{p['pool']}: {'; '.join(shortfalls)} [`mlplatform check` fails on it: {rule}]"))
    return errors, [w for w in cluster["warnings"] if w not in taken]


def _rows(cluster: dict[str, Any]) -> list[list[str]]:
    rows = []
    for p in cluster["pools"]:
        need, bound = p["nodes_needed"], p["lower_bound"]
        rows.append(
            [
                p["pool"],
                f"{p['instance_type']} {p['capacity_type']}",
                f"{p['nodes_configured']['min']}-{p['nodes_configured']['max']}",
                f"{need['min_demand']} / {need['max_demand']}",
                f"{bound['min_demand']} / {bound['max_demand']}",
                _gpu_cell(p),
                _cost_cell(p),
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


# What the two node columns are (capacity/plan.py, docs/capacity.md "Packing under constraints"): a reader
# could not tell the packing's count from its lower bound.
# $/h prices the nodes billed (plan.PoolPlan.billed_nodes), not the nodes needed: a cpu row "needed 1 / 2" beside
# the price of 3 nodes (its min_size) read as a wrong price.
LEGEND = ("needed: nodes the packing found at minimum / maximum demand; bound: the lower bound it is compared "
          "with, no placement uses fewer nodes (needed = bound: the packing is optimal); $/h: the nodes billed, "
          "the nodes needed but at least min_size and at most max_size")


def _total_line(cluster: dict[str, Any]) -> str:
    hour = cluster["total"]["cost_usd_per_hour"]
    month = cluster["total"]["cost_usd_per_month"]
    short = [p["pool"] for p in cluster["pools"] if _short(p)]
    return (
        f"total: {_money(hour['at_min_demand'])}/h - {_money(hour['at_max_demand'])}/h "
        f"({_money(month['at_min_demand'])} - {_money(month['at_max_demand'])} per month of "
        f"{HOURS_PER_MONTH} h)"
        + (f"; pools that do not fit are priced at their max_size: {', '.join(short)}" if short else "")
    )


HEADROOM_HEADER = ["pool", "rollout", "node loss", "zone loss", "critical workloads"]
# A pool without critical pods has nothing to survive; "-" there read as "unknown" or "failed".
NO_CRITICAL = "none critical"
# What a stall is (capacity/headroom.py): said once under the table, the Deployments named per pool.
STALLS = ("rollouts that stall (maxUnavailable 0 and not one surge pod fits within max_size, so the rolling "
          "update can neither start a new pod nor stop an old one)")
LOST = "critical workloads that do not survive (the pods of their priority and above do not fit what is left)"


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
        n = len(roll["stalls"])
        stalls = f", {n} rollout{'s' if n > 1 else ''} stall{'' if n > 1 else 's'} (below)" if n else ""
        critical = [h[k]["critical"] for k in ("node_loss", "zone_loss") if h[k].get("critical")]
        crit = (NO_CRITICAL if not critical
                else "survive" if all(c["survive"] for c in critical) else "DO NOT SURVIVE")
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


def _headroom_notes(cluster: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Under the headroom table, what its cells only count: per pool, the Deployments whose rollout stalls and
    the critical workloads that do not survive a loss, and that `check` fails on them. It does when the pool's
    maximum demand fits; otherwise the pool's one error is capacity/max-size (docs/capacity.md)."""
    stalls, lost = [], []
    for p in cluster["pools"]:
        h = p.get("headroom")
        if not h:
            continue
        fails = "" if _short(p) else " [`mlplatform check` fails on it: {}]"
        if h["rollout"]["stalls"]:
            stalls.append(f"{p['pool']}: {', '.join(h['rollout']['stalls'])}" + fails.format("capacity/rollout"))
        scenarios = {k.replace("_", " "): h[k]["critical"] for k in ("node_loss", "zone_loss")
                     if h[k].get("critical") and not h[k]["critical"]["survive"]}
        if scenarios:
            names = dict.fromkeys(w for c in scenarios.values() for w in c["workloads"])
            lost.append(f"{p['pool']}: {', '.join(names)} ({' and '.join(scenarios)})"
                        + fails.format("capacity/failure-headroom"))
    return [(heading, lines) for heading, lines in ((STALLS, stalls), (LOST, lost)) if lines]


def _not_rendered_line(cluster: dict[str, Any]) -> str:
    """The HelmReleases the plan could not see into: their DaemonSets and pods are not in the numbers."""
    names = [r["release"] for r in cluster["helm_releases_not_rendered"]]
    return (f"helm releases not rendered ({len(names)}; their pods and DaemonSets are not planned, "
            f"`mlplatform check --min-severity info` says why): {', '.join(names)}")


def _complete(cluster: dict[str, Any]) -> bool:
    """The plan read every file it needs (capacity/inputs.py); a JSON plan made before the key was."""
    return bool(cluster.get("complete", True))


def _where(error: dict[str, Any]) -> str:
    return f"{error['file']}:{error['line']}" if error.get("line") else str(error.get("file") or "?")


def _input_error_line(error: dict[str, Any]) -> str:
    """One error of a file the plan reads, as `check` prints it (file:line, rule, message)."""
    return f"{_where(error)}: {error['rule']}: {error['message']} [`mlplatform check` fails on it]"


# What each kind of input error does to the figures.
_EFFECT = {
    RENDER: ("rendering error", "the figures leave out what did not render"),
    POOL_FILE: ("pool-file error", "the pools are planned as written, which `check` refuses"),
    SCHEMA: ("schema error", "an object the API server refuses is planned as far as it can be read"),
}


def incomplete_why(errors: list[dict[str, Any]]) -> str:
    """Why a plan is incomplete, in one clause per kind: how many errors, where (the first two) and what that
    does to the figures, e.g. "1 rendering error (apps/x/kustomization.yaml:6 render/unreadable-input): the
    figures leave out what did not render"."""
    parts = []
    for source, (what, effect) in _EFFECT.items():
        mine = [e for e in errors if e["source"] == source]
        if not mine:
            continue
        where = ", ".join(f"{_where(e)} {e['rule']}" for e in mine[:2])
        more = f" and {len(mine) - 2} more" if len(mine) > 2 else ""
        parts.append(f"{len(mine)} {what}{'s' if len(mine) > 1 else ''} ({where}{more}): {effect}")
    return "; ".join(parts)


def _verdict(cluster: dict[str, Any], fits: str, short: str, incomplete: str) -> str:
    """The cluster's verdict; an incomplete plan gives none and says why first: its "fits" and every figure
    are those of part of the repository (a tab in one file read "fits", every pool at 0 / 0)."""
    if _complete(cluster):
        return fits if cluster["fits"] else short
    verdict = f"{incomplete}, no verdict: {incomplete_why(cluster['input_errors'])}"
    return verdict + ("" if cluster["fits"] else f"; on what was read it {short}")


def _printed_warnings(cluster: dict[str, Any], warnings: list[str]) -> list[str]:
    """The warnings minus the JSON's "rendering reported N error(s)", which the verdict and the error lines say."""
    rendering = sum(e["source"] == RENDER for e in cluster.get("input_errors", []))
    return [w for w in warnings if not (rendering and w == render_warning(rendering))]


def plan_text(clusters: list[dict[str, Any]]) -> str:
    out = []
    for c in clusters:
        verdict = _verdict(c, "fits", "DOES NOT FIT", "plan INCOMPLETE")
        settings = f" with {', '.join(c['overrides'])}" if c.get("overrides") else ""
        out.append(f"cluster {c['cluster']} ({c['region']}){settings}: {verdict}")
        out.extend(f"  error: {_input_error_line(e)}" for e in c.get("input_errors", []))
        rows = [HEADER, *_rows(c)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
        for row in rows:
            out.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        out.append("  " + LEGEND)
        out.append("  " + _total_line(c))
        headroom = _headroom_rows(c)
        if headroom:
            out.append("  headroom at maximum demand, nodes needed/available (NO: does not fit):")
            table = [HEADROOM_HEADER, *headroom]
            widths = [max(len(r[i]) for r in table) for i in range(len(HEADROOM_HEADER))]
            for row in table:
                out.append("    " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
            for heading, lines in _headroom_notes(c):
                out.append(f"  {heading}:")
                out.extend(f"    {line}" for line in lines)
        for u in c["unplaced"]:
            constraint = f" [{u['constraint']}]" if u.get("constraint") else ""
            out.append(f"  unplaced: {u['workload']} ({u['file']}){constraint}: {u['reason']}")
        errors, warnings = _errors(c)
        for _, e in errors:
            out.append(f"  error: {e}")
        for w in _printed_warnings(c, warnings):
            out.append(f"  warning: {w}")
        if c.get("helm_releases_not_rendered"):
            out.append("  " + _not_rendered_line(c))
        out.append(f"  prices: on-demand from the catalog; spot table of {c['prices']['spot_table_date']}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def plan_markdown(clusters: list[dict[str, Any]]) -> str:
    """Incomplete plans and clusters that do not fit first, and in each the errors of the files it reads, what
    does not fit and what asks for action before the table."""
    out = ["## Capacity plan", ""]
    for c in sorted(clusters, key=lambda c: (_complete(c), c["fits"])):
        verdict = _verdict(c, "fits", "**does not fit**", "**plan incomplete**")
        out.append(f"### {c['cluster']} ({c['region']}): {verdict}")
        out.append("")
        if c.get("input_errors"):
            out.append("Errors in the files the plan reads (the figures below cover only what was read):")
            out.extend(f"- {_input_error_line(e)}" for e in c["input_errors"])
            out.append("")
        short = [p for p in c["pools"] if _short(p)]
        if short:
            out.append("Pools whose max_size is too small for maximum demand (`mlplatform check` fails on "
                       "these: `capacity/max-size`):")
            for p in short:
                needed, most = p["nodes_needed"]["max_demand"], p["nodes_configured"]["max"]
                binding = p["binding_constraint"]["max_demand"]
                # the first shortfall is this node count, said shorter; the others are GPU units
                out.append(f"- `{p['pool']}`: needs {needed} nodes, max_size {most} (short by {needed - most})"
                           + (f", driven by {binding}" if binding else "")
                           + "".join(f"; {w}" for w in _shortfalls(p)[1:]))
            out.append("")
        errors, warnings = _errors(c)
        unplaced_units = [e for p, e in errors if not _short(p)]  # short pools: in the list above
        if c["unplaced"]:
            out.append("Workloads that fit no pool:")
            out.extend(
                f"- `{u['workload']}` ({u['file']}, {u.get('constraint') or 'node-selection'}): {u['reason']}"
                for u in c["unplaced"]
            )
            out.append("")
        if unplaced_units:
            out.append("GPU units beyond max_size:")
            out.extend(f"- {e}" for e in unplaced_units)
            out.append("")
        warnings = _printed_warnings(c, warnings)
        if warnings:
            out.append("To do:")
            out.extend(f"- {w}" for w in warnings)
            out.append("")
        if c.get("helm_releases_not_rendered"):
            out.append(_not_rendered_line(c))
            out.append("")
        out.append("| " + " | ".join(HEADER) + " |")
        out.append("|" + "---|" * len(HEADER))
        for row in _rows(c):
            out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        out.append("")
        out.append(LEGEND[0].upper() + LEGEND[1:])
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
            for heading, lines in _headroom_notes(c):
                out.append(f"{heading[0].upper()}{heading[1:]}:")
                out.extend(f"- {line}" for line in lines)
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
    """_short_note for the head of a pool's diff (its cost then often reads ±$0.00, "no extra cost")."""
    needed, max_size = pool["nodes_needed"]["max_demand"]["head"], pool["nodes_configured"]["max"]["head"]
    if needed is None or max_size is None or needed <= max_size:
        return None
    return _short_note(needed, max_size)


def _incomplete_sides(cluster: dict[str, Any]) -> str:
    """Which side of a plan diff is incomplete and why: a rendering error there took its workloads out, and
    the deltas read as a saving (every pool "->0", "-$207.95/h") that no one would make."""
    errors = cluster.get("input_errors") or {}
    names = {"head": "this branch's", "base": "the base's"}
    return "; ".join(f"{names[side]} plan is incomplete, {incomplete_why(errors.get(side) or [])}"
                     for side in incomplete_sides(cluster))


def diff_text(ref: str, commit: str, diff: list[dict[str, Any]], markdown: bool = False) -> str:
    """The change from the base ref to the working tree, per pool: nodes, GPU units requested and cost."""
    title = f"Capacity change against {ref} ({commit[:12]})"
    out = [f"## {title}" if markdown else title, ""]
    for c in diff:
        total = c["total_cost_usd_per_hour"]
        # Any pool of the head short of nodes, changed or not: the cluster's cost is then capped too.
        short = {p["pool"]: why for p in c["pools"] if (why := _short_at_head(p))}
        verdict = "; ".join(f"`{name}` {why}" if markdown else f"{name} {why}" for name, why in short.items())
        unreal = _incomplete_sides(c)
        head = (
            f"{c['cluster']}: "
            + (f"{unreal}; so the change below is not a real saving or cost: " if unreal else "")
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
