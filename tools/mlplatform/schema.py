"""Schema validation of rendered objects (core kinds from kubernetes-validate, CRDs from schema locations).

STUB owned by issue 2 (schema helper): replace the bodies, keep the signatures.
"""

from __future__ import annotations

from .model import Finding, Manifest


def validate_manifests(
    manifests: list[Manifest], *, kubernetes_version: str, schema_locations: list[str], strict: bool
) -> list[Finding]:
    """Validate every object; a kind with no schema is a warning (an error when strict)."""
    raise NotImplementedError
