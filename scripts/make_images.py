#!/usr/bin/env python3
"""`make images`: the README's pictures of this repository, under docs/images/.

- report-capacity.png and report-packing.png: screenshots of `mlplatform report`'s page in headless Chromium
  with the network shut (scripts/screenshot.mjs), of the production capacity section and of the a100-mig
  packing picture;
- flux-graph.png: `mlplatform graph --cluster production` rendered by the Mermaid CLI;
- images.json: a digest of the data each image shows (tests/test_report_images.py fails when the
  repository no longer matches it: run `make images` again).

Needs .tools/pictures.env (scripts/ensure-pictures.sh; `make images` runs it) in the environment.
Exit 0 written, 1 a drawing failed, 2 usage or set-up problem.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES_DIR = ROOT / "docs" / "images"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema-location", action="append", default=[], help="CRD schemas for the check")
    args = parser.parse_args(argv)
    missing = [v for v in ("MLPLATFORM_NODE", "MLPLATFORM_MMDC", "MLPLATFORM_JS", "MLPLATFORM_PUPPETEER_CONFIG")
               if not os.environ.get(v)]
    if missing:
        print(f"error: {', '.join(missing)} not set: run `make images` (it reads .tools/pictures.env)",
              file=sys.stderr)
        return 2

    from mlplatform.catalog import load_catalog
    from mlplatform.config import load_config
    from mlplatform.pictures import images
    from mlplatform.pictures.collect import collect
    from mlplatform.pictures.page import build_report

    locations = [str(Path(s).resolve()) for s in args.schema_location]
    config = load_config(ROOT, schema_locations=locations or None)
    collected = collect(config, plans=True)
    page, data = build_report(collected, load_catalog(), ROOT)
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    node = os.environ["MLPLATFORM_NODE"]
    with tempfile.TemporaryDirectory(prefix="mlplatform-images-") as tmp:
        report = Path(tmp) / "report.html"
        report.write_text(page, encoding="utf-8")
        shots = [
            f"{name}={selector}={IMAGES_DIR / name}"
            for name, (_, selector) in images.IMAGES.items()
            if selector is not None
        ]
        command = [node, str(ROOT / "scripts" / "screenshot.mjs"), "--page", str(report),
                   "--json", str(Path(tmp) / "page.json"), "--width", "1500"]
        for shot in shots:
            command += ["--shot", shot]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        page_json = json.loads((Path(tmp) / "page.json").read_text())
        if done.returncode != 0:
            print(f"error: the report did not draw: {page_json.get('failure') or page_json.get('error')} "
                  f"blocked={page_json.get('blocked')} {done.stderr.strip()}", file=sys.stderr)
            return 1
        graph = Path(tmp) / "graph.mmd"
        graph.write_text(next(c for c in data["clusters"] if c["name"] == images.CLUSTER)["graph"]["mermaid"])
        done = subprocess.run(
            [node, os.environ["MLPLATFORM_MMDC"], "--quiet", "-p", os.environ["MLPLATFORM_PUPPETEER_CONFIG"],
             "-i", str(graph), "-o", str(IMAGES_DIR / "flux-graph.png"), "-b", "white", "--size", "2400"],
            capture_output=True, text=True, timeout=300,
        )
        if done.returncode != 0:
            print(f"error: mmdc failed: {done.stderr.strip()}", file=sys.stderr)
            return 1
    record = {
        name: {"shows": shows, "data_sha256": images.digests(data)[name]}
        for name, (shows, _) in images.IMAGES.items()
    }
    (IMAGES_DIR / "images.json").write_text(json.dumps(record, indent=2) + "\n")
    for name in images.IMAGES:
        print(f"wrote {IMAGES_DIR.relative_to(ROOT) / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
