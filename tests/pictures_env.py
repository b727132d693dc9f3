"""The tools the picture tests drive (Node, the Mermaid CLI, Chromium), as `make test` provides them.

scripts/ensure-pictures.sh installs them and writes .tools/pictures.env; the Makefile puts its variables in
the environment. Import from tests as `pictures_env` (kept out of conftest.py, as helpers.py is).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from helpers import REPO_ROOT

VARIABLES = ("MLPLATFORM_NODE", "MLPLATFORM_MMDC", "MLPLATFORM_JS", "MLPLATFORM_PUPPETEER_CONFIG")


def require() -> dict[str, str]:
    missing = [v for v in VARIABLES if not os.environ.get(v) or not Path(os.environ[v]).exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not set or missing: run `make test` (or `make pictures-setup` and "
                    "export the variables of .tools/pictures.env)")
    return {v: os.environ[v] for v in VARIABLES}


def mmdc(source: Path, output: Path) -> subprocess.CompletedProcess:
    """The official Mermaid CLI on the system Chromium: a Mermaid file or a Markdown file with blocks."""
    env = require()
    return subprocess.run(
        [env["MLPLATFORM_NODE"], env["MLPLATFORM_MMDC"], "--quiet", "-p", env["MLPLATFORM_PUPPETEER_CONFIG"],
         "-i", str(source), "-o", str(output)],
        capture_output=True, text=True, timeout=300,
    )


def screenshot(
    page: Path, out_dir: Path, shots: dict[str, str], full: bool = True, clicks: tuple[str, ...] = ()
) -> tuple[int, dict]:
    """Draw `page` in headless Chromium with the network shut (scripts/screenshot.mjs); (exit, page facts).
    `clicks`: selectors clicked after the screenshots; the graphs are then measured again (graphsAfterClick)."""
    env = require()
    result = out_dir / "page.json"
    command = [env["MLPLATFORM_NODE"], str(REPO_ROOT / "scripts" / "screenshot.mjs"), "--page", str(page),
               "--json", str(result)]
    for name, selector in shots.items():
        command += ["--shot", f"{name}={selector}={out_dir / (name + '.png')}"]
    if full:
        command += ["--full", str(out_dir / "full.png")]
    for selector in clicks:
        command += ["--click", selector]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    facts = json.loads(result.read_text()) if result.exists() else {"failure": done.stderr}
    return done.returncode, facts
