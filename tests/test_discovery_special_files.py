"""Cluster discovery reads only regular files: a FIFO or a link to /dev/zero below a folder without clusters/
used to block `check` forever (found by a newcomer running it in /tmp, where the suite had left a FIFO)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FLUX_SYNC = """apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: flux-system, namespace: flux-system}
spec:
  path: ./lab
  sourceRef: {kind: GitRepository, name: flux-system}
"""


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "sync.yaml").write_text(FLUX_SYNC)
    os.mkfifo(tmp_path / "lab" / "pipe.yaml")
    (tmp_path / "lab" / "zero.yaml").symlink_to("/dev/zero")
    return tmp_path


def test_discovery_skips_fifos_and_devices_without_opening_them(tmp_path: Path) -> None:
    repo = _tree(tmp_path)
    # in a child process with a time limit: a regression blocks on open() instead of failing
    code = (
        "import sys; from pathlib import Path; from mlplatform.discovery import bootstrap_roots; "
        "print([r.name for r in bootstrap_roots(Path(sys.argv[1]), Path(sys.argv[1]))])"
    )
    done = subprocess.run([sys.executable, "-c", code, str(repo)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['lab']"

