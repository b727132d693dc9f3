"""The README's pictures of this repository, and how to tell when they are stale.

Pixels differ from machine to machine (fonts, anti-aliasing), so staleness is judged on the data each image
shows: `make images` (scripts/make_images.py) records a digest of that data beside the images, in
docs/images/images.json, and a test recomputes it from the repository as it is now.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

CLUSTER = "production"  # the cluster the README shows
PACKING_POOL = "a100-mig"  # the pool whose packing the README shows (every MIG slice with its workload)
IMAGES = {
    # image file -> (what it shows, CSS selector of the report element a screenshot is taken of)
    "report-capacity.png": ("capacity, nodes and cost per pool", f"#capacity-{CLUSTER}"),
    "report-packing.png": ("MIG instances per GPU and node", f"#packing-{CLUSTER}-{PACKING_POOL}"),
    "flux-graph.png": ("the Flux graph, rendered by the Mermaid CLI", None),
}


def _cluster(data: dict[str, Any]) -> dict[str, Any]:
    clusters: list[dict[str, Any]] = data["clusters"]
    for cluster in clusters:
        if cluster["name"] == CLUSTER:
            return cluster
    raise KeyError(f"the report has no cluster {CLUSTER}")


def image_inputs(data: dict[str, Any]) -> dict[str, Any]:
    """Per image, the part of the report data (pictures.page.report_data) that it shows."""
    cluster = _cluster(data)
    packing = next(p for p in cluster["packing"] if p["pool"] == PACKING_POOL)
    return {
        "report-capacity.png": cluster["plan"],
        "report-packing.png": packing["max"],
        "flux-graph.png": cluster["graph"]["mermaid"],
    }


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def digests(data: dict[str, Any]) -> dict[str, str]:
    return {name: digest(value) for name, value in image_inputs(data).items()}
