"""`mlplatform fix`: apply the rules' suggested fixes to the source files (comments and order kept)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..fix import apply_fixes, rule_findings
from ..model import Finding, Severity
from .common import EXIT_FINDINGS, EXIT_OK, cluster_option, exit_codes, guarded, open_config, repo_option


def _label(finding: Finding) -> str:
    where = f"{finding.file}:{finding.line}" if finding.line else (finding.file or "(no file)")
    clusters = ", ".join(finding.all_clusters)
    return f"{where}: {finding.rule}" + (f" [{clusters}]" if clusters else "")


@click.command(name="fix", epilog=exit_codes(
    ok="0 no policy-rule finding at error severity is left (fix runs the policy rules only: capacity, pool-file,"
       " schema and Flux findings are `mlplatform check`'s)",
    findings="1 an error-severity policy-rule finding is left that fix could not change, or a file did not render"))
@repo_option
@cluster_option
@click.option("--dry-run", is_flag=True, help="Print the changes as a unified diff; write nothing.")
@guarded
def command(repo: Path, clusters: tuple[str, ...], dry_run: bool) -> None:
    """Apply the fixes the policy rules suggest, in place (atomically, one document at a time).

    Only the policy rules' findings are fixed here; `mlplatform check` reports the rest (capacity, pool files,
    schemas, Flux), which fix neither sees nor counts.

    A fix only adds what keeps a workload working (a toleration, a nodeSelector, a limit equal to the
    request, ...); it never changes a resource count. Every finding it leaves says why, in one line.
    """
    config = open_config(repo)
    render_errors: list[Finding] = []
    findings = rule_findings(config.repo, config, list(clusters) or None, render_errors)
    if render_errors:
        first = render_errors[0]
        click.echo(f"warning: {len(render_errors)} rendering error(s), e.g. {first.file}:{first.line}: "
                   f"{first.message}; fix sees only the objects that rendered (run `mlplatform check`)", err=True)
    outcome = apply_fixes(config.repo, findings, dry_run=dry_run)
    for rel, diff in outcome.changed_files.items():
        click.echo(diff if dry_run else f"fixed {rel}", nl=not dry_run)
    for finding, why in sorted(outcome.skipped, key=lambda item: item[0].sort_key()):
        click.echo(f"{_label(finding)}: not fixed: {why}", err=True)
    verb = "would fix" if dry_run else "fixed"
    click.echo(
        f"{verb} {len(outcome.applied)} of {len(findings)} policy-rule finding(s) in {len(outcome.changed_files)} "
        f"file(s); {len(outcome.skipped)} not fixed" + (" (why: above)" if outcome.skipped else "")
        + "; `mlplatform check` reports the other checks",
        err=True,
    )
    left = bool(render_errors) or any(f.severity is Severity.ERROR for f, _ in outcome.skipped)
    sys.exit(EXIT_FINDINGS if left else EXIT_OK)
