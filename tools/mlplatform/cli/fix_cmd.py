"""`mlplatform fix`: apply the rules' suggested fixes to the source files (comments and order kept)."""

from __future__ import annotations

import sys

import click

from ..fix import apply_fixes, rule_findings
from .common import EXIT_FINDINGS, EXIT_OK, cluster_option, guarded, open_config, repo_option


@click.command(name="fix")
@repo_option
@cluster_option
@click.option("--dry-run", is_flag=True, help="Print the changes as a unified diff; write nothing.")
@guarded
def command(repo, clusters, dry_run: bool) -> None:
    """Apply the fixes the policy rules suggest, in place (atomically, one document at a time)."""
    config = open_config(repo)
    fixes = [f for f in rule_findings(config.repo, config, list(clusters) or None) if f.fix]
    outcome = apply_fixes(config.repo, fixes, dry_run=dry_run)
    for rel, diff in outcome.changed_files.items():
        click.echo(diff if dry_run else f"fixed {rel}", nl=not dry_run)
    for finding, why in outcome.skipped:
        click.echo(f"{finding.file}:{finding.line}: {finding.rule}: not fixed: {why}", err=True)
    verb = "would fix" if dry_run else "fixed"
    click.echo(
        f"{verb} {len(outcome.applied)} finding(s) in {len(outcome.changed_files)} file(s); "
        f"{len(outcome.skipped)} not fixable automatically",
        err=True,
    )
    sys.exit(EXIT_FINDINGS if outcome.skipped else EXIT_OK)
