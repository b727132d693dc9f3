"""`mlplatform report`: one self-contained HTML page of the check, the capacity plans, the GPU packing and
the Flux graphs. Everything the page needs is inside it (data, chart specs, the vendored Vega, Vega-Lite and
Mermaid builds): it opens offline and fetches nothing.

`report_data` is the page's content as JSON; `render_page` puts it into the Jinja2 template.
"""

from __future__ import annotations

import html
import json
import subprocess
from collections import Counter
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from .. import __version__
from ..capacity.cost import HOURS_PER_MONTH
from ..catalog import Catalog
from ..model import Finding, Severity
from ..report import counts, sort_findings
from . import charts
from .collect import Collected
from .flowchart import LEGEND, to_mermaid
from .packing import cluster_packing, display_name

MAX_FINDINGS_LISTED = 500  # the page lists this many findings in full; the tables count all of them
VENDOR_FILES = ("vega.min.js", "vega-lite.min.js", "mermaid.min.js")


def _git_commit(repo: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _check_summary(findings: list[Finding]) -> dict[str, Any]:
    by_rule: dict[str, Counter[str]] = {}
    by_file: dict[str, Counter[str]] = {}
    for f in findings:
        by_rule.setdefault(f.rule, Counter())[f.severity.value] += 1
        by_file.setdefault(f.file or "(no file)", Counter())[f.severity.value] += 1

    def rows(table: dict[str, Counter[str]], key: str) -> list[dict[str, Any]]:
        out = [{key: name, **{s.value: c.get(s.value, 0) for s in Severity}} for name, c in table.items()]
        return sorted(out, key=lambda r: (-r["error"], -r["warning"], -r["info"], r[key]))

    listed = sort_findings(findings)[:MAX_FINDINGS_LISTED]
    return {
        "summary": counts(findings),
        "by_rule": rows(by_rule, "rule"),
        "by_file": rows(by_file, "file"),
        "findings": [f.to_json() for f in listed],
        "listed": len(listed),
        "total": len(findings),
    }


def report_data(collected: Collected, catalog: Catalog) -> dict[str, Any]:
    """Everything the page shows, as JSON (deterministic: no time, no machine paths)."""
    clusters = []
    for name in collected.check.clusters:
        plan = collected.plans.get(name)
        entry: dict[str, Any] = {
            "name": name,
            "graph": {
                "mermaid": to_mermaid([collected.graphs[name]]),
                "nodes": len(collected.graphs[name].nodes),
                "edges": len(collected.graphs[name].edges),
                "marked": sum(1 for n in collected.graphs[name].nodes.values() if n.findings),
            },
            "plan": plan.to_json() if plan else None,
            "plan_error": collected.plan_errors.get(name),
            "packing": cluster_packing(plan.pools, catalog) if plan else [],
        }
        clusters.append(entry)
    return {
        "check": _check_summary(collected.check.findings),
        "clusters": clusters,
        "hours_per_month": HOURS_PER_MONTH,
    }


def _specs(data: dict[str, Any]) -> dict[str, Any]:
    """Element id -> Vega-Lite spec for every chart of the page."""
    workloads = [
        cell["workload"]
        for c in data["clusters"]
        for p in c["packing"]
        for level in ("max", "min")
        for cell in p[level]["cells"]
        if cell["held"]
    ]
    colours = charts.workload_colours(workloads)
    specs: dict[str, Any] = {}
    for c in data["clusters"]:
        plan = c["plan"]
        if plan is None:
            continue
        units = charts.gpu_units_chart(plan)
        if units:
            specs[f"chart-gpu-{c['name']}"] = units
        specs[f"chart-nodes-{c['name']}"] = charts.nodes_chart(plan)
        specs[f"chart-cost-{c['name']}"] = charts.cost_chart(plan)
        for p in c["packing"]:
            for level in ("max", "min"):
                specs[f"packing-{c['name']}-{p['pool']}-{level}"] = charts.packing_chart(p[level], colours)
                specs[f"usage-{c['name']}-{p['pool']}-{level}"] = charts.usage_chart(p[level])
    return specs


@lru_cache(maxsize=1)
def _vendor() -> dict[str, str]:
    """The vendored builds, ready to sit inside <script> elements."""
    folder = resources.files("mlplatform.pictures") / "vendor"
    out = {}
    for name in VENDOR_FILES:
        text = (folder / name).read_text(encoding="utf-8")
        # "</script" inside a script element would end it early; "<\/script" means the same to JavaScript
        out[name] = text.replace("</script", "<\\/script")
    meta = json.loads((folder / "VENDOR.json").read_text(encoding="utf-8"))
    out["credits"] = ", ".join(f"{p} {m['version']} ({m['license']})" for p, m in meta.items())
    return out


def _json_for_script(value: Any) -> str:
    # "<" escaped: no string in the data can close the <script type="application/json"> element
    return json.dumps(value, sort_keys=True, separators=(",", ":")).replace("<", "\\u003c")


def _money(value: float) -> str:
    return f"${value:,.2f}"


def render_page(data: dict[str, Any], *, repo_name: str, commit: str | None) -> str:
    import jinja2  # imported here: only `report` renders HTML

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mlplatform.pictures", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = _money
    env.filters["workload"] = display_name
    template = env.get_template("report.html.j2")
    vendor = _vendor()
    return template.render(
        data=data,
        specs_json=_json_for_script(_specs(data)),
        repo_name=repo_name,
        commit=commit,
        version=__version__,
        legend=LEGEND,
        vendor=vendor,
        credits=vendor["credits"],
        escape=html.escape,
    )


def build_report(collected: Collected, catalog: Catalog, repo: Path) -> tuple[str, dict[str, Any]]:
    data = report_data(collected, catalog)
    return render_page(data, repo_name=repo.name, commit=_git_commit(repo)), data
