"""`mlplatform report` on this repository, drawn by a real headless Chromium with the network shut."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import pictures_env
from helpers import REPO_ROOT, crd_schema_dir, run_cli
from mlplatform.catalog import load_catalog
from mlplatform.config import load_config
from mlplatform.helm import CACHE_ENV
from mlplatform.pictures.collect import collect
from mlplatform.pictures.page import render_page, report_data

pytestmark = pytest.mark.xdist_group("browser")  # one Chromium at a time on a 2-core machine

VENDOR = REPO_ROOT / "tools" / "mlplatform" / "pictures" / "vendor"


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The report of this repository, written by the CLI, drawn and photographed once for the module, as on a
    fresh clone: an empty chart cache, so the remote charts' HelmReleases are not rendered."""
    out = tmp_path_factory.mktemp("report")
    cache = {CACHE_ENV: str(tmp_path_factory.mktemp("empty-chart-cache"))}
    with pytest.MonkeyPatch.context() as env:
        env.setenv(CACHE_ENV, cache[CACHE_ENV])  # the in-process collect below reads the same cache
        done = run_cli(
            "report", "--repo", str(REPO_ROOT), "--out", str(out), "--schema-location", str(crd_schema_dir()),
            env=cache,
        )
        assert done.returncode == 0, done.stderr  # this repository: no check errors, every plan fits
        page = out / "report.html"
        code, facts = pictures_env.screenshot(
            page, out, {"capacity": "#capacity-production", "packing": "#packing-production-a100-mig"},
            clicks=("button.zoom",),
        )
        assert code == 0, {k: facts.get(k) for k in ("failure", "error", "blocked", "remote", "console")}
        config = load_config(REPO_ROOT, schema_locations=[str(crd_schema_dir())])
        data = report_data(collect(config, plans=True), load_catalog())
        yield {"dir": out, "page": page, "facts": facts, "data": data}


def test_page_is_one_file_that_fetches_nothing(drawn: dict[str, Any]) -> None:
    facts = drawn["facts"]
    assert facts["rendered"] == "ok" and facts["error"] == ""
    assert facts["blocked"] == [] and facts["remote"] == []  # every request was the page itself
    assert [m for m in facts["console"] if "error" in m] == []
    html = drawn["page"].read_text()
    # outside the inlined scripts no element loads anything: no src, no <link>, no CSS import (the scripts'
    # own text may hold such strings; what they do at run time is what `blocked` above records)
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", html, flags=re.S)
    assert markup.count("<script") == 0 and html.count("<script") == 5
    assert not re.search(r"""<(script|img|iframe)[^>]*\ssrc=""", markup)
    assert not re.search(r"<link\b", markup) and "@import" not in markup
    # every chart and graph was drawn into an SVG
    assert facts["charts"] and all(c["svg"] == 1 and c["width"] > 100 for c in facts["charts"]), facts["charts"]
    assert {g["id"] for g in facts["graphs"]} == {"mermaid-production", "mermaid-staging"}
    assert all(g["svg"] == 1 and g["nodes"] > 20 for g in facts["graphs"])


def test_screenshots_are_not_blank(drawn: dict[str, Any]) -> None:
    for name in ("capacity", "packing", "full"):
        image = Image.open(drawn["dir"] / f"{name}.png").convert("RGB")
        assert image.width > 600 and image.height > 400, (name, image.size)
        small = image.resize((image.width // 4, image.height // 4))
        colours = small.getcolors(maxcolors=1 << 20) or []
        assert len(colours) > 50, f"{name}: {len(colours)} colours, looks blank"
        white = sum(n for n, rgb in colours if min(rgb) > 245)
        assert white < 0.9 * small.width * small.height, f"{name} is {white / (small.width * small.height):.0%} white"
        # the chart colours are there: orange (max demand) and blue (min demand) bars, per Vega's Tableau 10
        if name == "capacity":
            assert any(rgb == (0xF2, 0x8E, 0x2B) for _, rgb in colours)
            assert any(rgb == (0x4E, 0x79, 0xA7) for _, rgb in colours)


def test_five_pools_of_production_with_units_nodes_and_cost(drawn: dict[str, Any]) -> None:
    text = drawn["facts"]["text"]
    plan = next(c for c in drawn["data"]["clusters"] if c["name"] == "production")["plan"]
    pools = [p["pool"] for p in plan["pools"]]
    assert pools == ["cpu", "a100-timeslice", "a100-mig", "h100-timeslice", "a100-timeslice-spot"]
    section = text[text.index("Capacity of production"):text.index("GPU packing of production")]
    for p in plan["pools"]:
        assert p["pool"] in section
        cost = p["cost_usd_per_hour"]
        assert f"${cost['at_min_demand']:,.2f} / ${cost['at_max_demand']:,.2f}" in section, p["pool"]
        assert f"{p['nodes_needed']['min_demand']} / {p['nodes_needed']['max_demand']}" in section
        for g in p["gpu_units"]:
            assert f"{g['requested_at_max_demand']} / {g['available_at_max_size']}" in section
    total = plan["total"]["cost_usd_per_hour"]
    assert f"${total['at_min_demand']:,.2f}/h at minimum demand" in section
    # the charts carry the same figures (Vega draws them as SVG text)
    svg = "\n".join(drawn["facts"]["svgText"])
    assert "18 / 64 (min demand 5)" in svg and "$54.89/h at min, $54.89/h at max demand" in svg


def test_capacity_says_plainly_which_helm_releases_were_not_rendered(drawn: dict[str, Any]) -> None:
    # The plan's list (what `plan` prints as "helm releases not rendered"), said near the top of the capacity
    # section and in the packing titles, not only among the collapsed findings.
    text = drawn["facts"]["text"]
    plan = next(c for c in drawn["data"]["clusters"] if c["name"] == "production")["plan"]
    missing = len(plan["helm_releases_not_rendered"])
    assert missing > 1  # the chart cache is empty: gpu-operator, fluent-bit, kube-prometheus-stack, ...
    capacity = text[text.index("Capacity of production"):text.index("GPU packing of production")]
    notice = f"{missing} HelmReleases not rendered"
    assert notice in capacity and "mlplatform charts pull" in capacity
    assert capacity.index(notice) < capacity.index("billed at min / max")  # above the pools table
    packing = text[text.index("GPU packing of production"):text.index("Flux graph of production")]
    assert "(DaemonSets included)" not in packing
    title = f"Requests per node (DaemonSets of rendered releases included; {missing} HelmReleases not rendered)"
    assert packing.count(title) == len(next(c for c in drawn["data"]["clusters"]
                                            if c["name"] == "production")["packing"])


def test_every_release_rendered_keeps_the_plain_packing_title(drawn: dict[str, Any]) -> None:
    data = copy.deepcopy(drawn["data"])
    for c in data["clusters"]:
        c["plan"]["helm_releases_not_rendered"] = []
    page = render_page(data, repo_name="r", commit=None)
    assert "HelmReleases not rendered" not in page and 'id="not-rendered-' not in page
    assert "Requests per node (DaemonSets included)" in page


def test_flux_graph_fits_the_width_of_its_box_and_zooms_to_actual_size(drawn: dict[str, Any]) -> None:
    graphs = {g["id"]: g for g in drawn["facts"]["graphs"]}
    assert graphs["mermaid-production"]["natural"] > 2 * graphs["mermaid-production"]["box"]  # fitting matters
    for g in graphs.values():
        assert 0 < g["width"] <= g["box"] + 0.5 and not g["scrolls"], g
    # "Actual size": the natural width, legible, in a box that scrolls sideways
    after = {g["id"]: g for g in drawn["facts"]["graphsAfterClick"]}
    production = after["mermaid-production"]
    assert production["width"] == pytest.approx(production["natural"], rel=0.02) and production["scrolls"]


def test_packing_shows_every_mig_instance_of_a100_mig_with_its_workload(drawn: dict[str, Any]) -> None:
    production = next(c for c in drawn["data"]["clusters"] if c["name"] == "production")
    packing = next(p for p in production["packing"] if p["pool"] == "a100-mig")["max"]
    aria = set(drawn["facts"]["aria"])
    cells = packing["cells"]
    assert len(cells) == 2 * 8 * 4  # 2 nodes, 8 GPUs, 4 instances per GPU (1g.10gb x2, 2g.20gb, 3g.40gb)
    # Vega writes each rectangle's description as its aria-label: every instance is drawn, with its holder
    assert all(c["description"] in aria for c in cells), [c["description"] for c in cells if c["description"]
                                                           not in aria][:5]
    held = [c for c in cells if c["held"]]
    assert {c["workload"] for c in held} == {"inference/agent-guard", "inference/tgi", "inference/triton",
                                             "inference/vllm"}
    assert len(held) == packing["held"] == 34  # 18 x 1g.10gb + 8 x 2g.20gb + 8 x 3g.40gb at max demand
    svg = drawn["facts"]["svgText"]
    assert sum(1 for t in svg if t == "3g.40gbvllm" or t.startswith("3g.40gb") and "vllm" in t) >= 8


def test_vendored_builds_are_the_pinned_npm_packages() -> None:
    env = pictures_env.require()
    record = json.loads((VENDOR / "VENDOR.json").read_text())
    lock = json.loads((REPO_ROOT / "tools" / "js" / "package-lock.json").read_text())
    for package, entry in record.items():
        vendored = (VENDOR / entry["file"]).read_bytes()
        assert hashlib.sha256(vendored).hexdigest() == entry["sha256"], package
        assert lock["packages"][f"node_modules/{package}"]["version"] == entry["version"], package
        installed = Path(env["MLPLATFORM_JS"]) / "node_modules" / entry["from"].replace(f"@{entry['version']}", "", 1)
        assert installed.read_bytes() == vendored, f"{package}: run scripts/vendor-js.sh"
        assert (VENDOR / f"LICENSE-{package}").is_file()
