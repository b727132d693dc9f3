"""What keeps a cluster's plan from covering the repository: the errors `check` reports for the files it reads.

A file that does not render (a tab indent, a duplicate key) leaves its objects out of the demand, and a pool
file with rule errors (a zone name where a zone id belongs) is planned as written, not as Terraform would take
it: either way the figures are those of part of the repository, and a plan that printed "fits" and a saving
over them claimed too much. The plan lists these errors (`input_errors`), calls itself incomplete and exits 1
(docs/capacity.md, exit codes).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .. import pool_rules, suppress
from ..catalog import Catalog
from ..config import Config
from ..model import Finding, Manifest, PoolFile, Severity
from ..zones import cluster_zone_ids

RENDER = "render"
POOL_FILE = "pool file"
SCHEMA = "schema"


def render_warning(count: int) -> str:
    """The JSON warning that rendering failed (before `complete` and `input_errors` said it per error)."""
    return f"rendering reported {count} error(s) (run `mlplatform check`); the plan covers what rendered"


def _errors(findings: list[Finding], config: Config) -> list[Finding]:
    """The findings at error severity once the repository's rule settings apply, as `check` counts them.

    Copies: the settings change a finding's severity and mark exemptions, and the caller's findings (the
    renderer's, shared with the report page) stay as they were."""
    active, _ = suppress.apply([copy.copy(f) for f in findings], config.rule_settings)
    return [f for f in active if f.severity is Severity.ERROR]


def _entry(source: str, f: Finding) -> dict[str, Any]:
    return {"source": source, "rule": f.rule, "file": f.file, "line": f.line, "message": f.message}


def _schema_errors(config: Config, manifests: list[Manifest], pool_file: PoolFile) -> list[Finding]:
    """schema/invalid of the rendered objects, as `check` validates them: the API server refuses such an object
    (a nodeSelector written as a list), so the plan, which reads what it can of it, plans what never runs."""
    from .. import schema
    from ..check import kubernetes_version_for
    from ..provenance import field_line

    found = schema.validate_manifests(
        manifests, kubernetes_version=kubernetes_version_for(config, pool_file),
        schema_locations=config.resolved_schema_locations(), strict=False, locate=field_line,
    )
    return [f for f in found if f.rule == "schema/invalid"]


def input_errors(
    repo: Path, config: Config, cluster: str, render_findings: list[Finding], pool_file: PoolFile, catalog: Catalog,
    manifests: list[Manifest] | None = None,
) -> list[dict[str, Any]]:
    """The rendering errors, the pool-file rule errors (pool_rules, as `check` runs them) and the schema errors
    of the rendered objects (when given) of one cluster.

    `pool_file` is the one planned: with `--set` overrides applied, so a what-if that fixes a pool's zones plans
    a valid pool (the overrides themselves are refused with exit 2 when they break a rule whatif.py checks)."""
    rendering = _errors(render_findings, config)
    pools = _errors(list(pool_rules.check_pool_file(pool_file, catalog, cluster_zone_ids(repo, cluster))), config)
    schemas = _errors(_schema_errors(config, manifests, pool_file), config) if manifests else []
    return ([_entry(RENDER, f) for f in rendering] + [_entry(POOL_FILE, f) for f in pools]
            + [_entry(SCHEMA, f) for f in schemas])
