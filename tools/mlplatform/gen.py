"""Files derived from the pool files: the device-plugin time-slicing ConfigMap and the MIG-manager ConfigMap.

STUB owned by issue 4 (infrastructure helper): replace the bodies, keep the signatures.
"""

from __future__ import annotations

from pathlib import Path

from .model import Finding


def generate(repo: Path) -> dict[Path, str]:
    """Every generated file: absolute path -> exact content."""
    raise NotImplementedError


def check_drift(repo: Path) -> list[Finding]:
    """One finding per generated file that is missing or differs from what `generate` would write."""
    raise NotImplementedError
