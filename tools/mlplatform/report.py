"""Findings to text, json, sarif, junit, github annotations and markdown.

STUB owned by issue 2 (report helper): replace the bodies, keep the signatures.
"""

from __future__ import annotations

from typing import Any

from .model import Finding

FORMATS = ("text", "json", "sarif", "junit", "github", "markdown")


def format_findings(findings: list[Finding], fmt: str, *, info: dict[str, Any] | None = None) -> str:
    """Render findings; `info` carries run facts (tool version, kustomize version, clusters, counts)."""
    raise NotImplementedError
