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
from ..model import Finding, PoolFile, Severity
from ..zones import cluster_zone_ids

RENDER = "render"
POOL_FILE = "pool file"


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


def input_errors(
    repo: Path, config: Config, cluster: str, render_findings: list[Finding], pool_file: PoolFile, catalog: Catalog
) -> list[dict[str, Any]]:
    """The rendering errors, then the pool-file rule errors (pool_rules, as `check` runs them) of one cluster.

    `pool_file` is the one planned: with `--set` overrides applied, so a what-if that fixes a pool's zones plans
    a valid pool (the overrides themselves are refused with exit 2 when they break a rule whatif.py checks)."""
    rendering = _errors(render_findings, config)
    pools = _errors(list(pool_rules.check_pool_file(pool_file, catalog, cluster_zone_ids(repo, cluster))), config)
    return [_entry(RENDER, f) for f in rendering] + [_entry(POOL_FILE, f) for f in pools]
