"""`mlplatform check`: render every cluster, validate it, run the rules and the capacity fit; CI runs this."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..check import CheckResult, run_check
from ..config import Config
from ..errors import InputError, ToolError
from ..model import Finding, Severity
from .common import (
    EXIT_CODES_HELP,
    EXIT_FINDINGS,
    EXIT_OK,
    cluster_option,
    guarded,
    no_cache_option,
    open_config,
    repo_option,
    resolve_format,
)

FORMAT_CHOICES = ("text", "json", "sarif", "junit", "github", "markdown")
SEVERITIES = ("error", "warning", "info")
# Infos are routine (a Kustomization that reads another repository is not rendered, ...): they are explained
# once in docs/architecture.md and shown with --min-severity info, not on every run.
DEFAULT_MIN_SEVERITY = "warning"
_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def format_output(
    findings: list[Finding], fmt: str, info: dict[str, Any], suppressed: list[Finding] | None = None
) -> str:
    from .. import report

    return report.format_findings(findings, fmt, info=info, suppressed=suppressed)


def common_options(fn: Any) -> Any:
    """Flags shared by check and validate."""
    for option in reversed(
        [
            click.option(
                "--format",
                "fmt",
                type=click.Choice(FORMAT_CHOICES, case_sensitive=False),
                default=None,
                help="Output format (default: text).",
            ),
            click.option(
                "--schema-location",
                "schema_locations",
                multiple=True,
                help="CRD schema directory or URL template (repeatable; replaces the config's list).",
            ),
            click.option(
                "--kubernetes-version", default=None, help="Kubernetes minor version for schemas, e.g. 1.34."
            ),
            click.option(
                "--strict/--no-strict",
                default=None,
                help="A kind with no schema is an error (default: config).",
            ),
            click.option(
                "--jobs", type=click.IntRange(min=1), default=None, help="Parallel kustomize builds."
            ),
            click.option(
                "--min-severity",
                type=click.Choice(SEVERITIES, case_sensitive=False),
                default=DEFAULT_MIN_SEVERITY,
                show_default=True,
                help="Report findings of this severity and above (info: also the routine notes).",
            ),
            click.option(
                "--quiet",
                "-q",
                is_flag=True,
                help="Errors only, and nothing on stderr but failures (same as --min-severity error, without "
                "the kustomize line).",
            ),
        ]
    ):
        fn = option(fn)
    return no_cache_option(fn)


def shown(findings: list[Finding], min_severity: str, quiet: bool) -> list[Finding]:
    """The findings at `min_severity` or above (errors only when quiet). Errors are never hidden, so the
    exit code and the report always agree."""
    limit = _RANK[Severity.ERROR if quiet else Severity(min_severity.lower())]
    return [f for f in findings if _RANK[f.severity] <= limit]


def finish(result: CheckResult, fmt: str | None, min_severity: str = DEFAULT_MIN_SEVERITY,
           quiet: bool = False) -> None:
    from ..report import counts

    visible = shown(result.findings, min_severity, quiet)
    info = result.info()
    everything, kept = counts(result.findings), counts(visible)
    hidden = {k: everything[k] - kept[k] for k in ("warnings", "infos") if everything[k] - kept[k]}
    if hidden:
        info["hidden"] = hidden
    text = format_output(visible, resolve_format(fmt), info, result.suppressed)
    click.echo(text, nl=False)  # every format ends with its own newline
    sys.exit(EXIT_FINDINGS if result.errors else EXIT_OK)


# A problem in a repository file that escaped the steps that turn such problems into findings: still a
# finding, so that every output format is produced (the routing rule); the test corpus keeps this unused.
RULE_UNUSABLE_FILE = "input/unusable-file"


def input_error_result(config: Config, exc: InputError) -> CheckResult:
    finding = Finding(RULE_UNUSABLE_FILE, Severity.ERROR, f"{exc.message} (the check stopped here)",
                      file=exc.file, line=exc.line or (1 if exc.file else None))
    return CheckResult(findings=[finding], clusters=[], object_counts={}, kustomize="not reached", timings={})


def open_check_config(
    repo: Path,
    schema_locations: tuple[str, ...],
    kubernetes_version: str | None,
    strict: bool | None,
    jobs: int | None,
    no_cache: bool = False,
) -> Config:
    """The config of check and validate, with their common_options applied over it."""
    # A relative --schema-location is relative to where the user runs the command, not to the repository.
    locations = [str(Path(s).resolve()) if "://" not in s and "{{" not in s else s for s in schema_locations]
    config = open_config(
        repo,
        keep_findings=True,
        schema_locations=locations or None,
        kubernetes_version=kubernetes_version,
        strict=strict,
        jobs=jobs,
    )
    config.build_cache = not no_cache
    if no_cache:
        from .. import buildcache

        buildcache.disable()
    return config


@click.command(name="check", epilog=EXIT_CODES_HELP)
@repo_option
@cluster_option
@common_options
@guarded
def command(
    repo: Path,
    clusters: tuple[str, ...],
    fmt: str | None,
    schema_locations: tuple[str, ...],
    kubernetes_version: str | None,
    strict: bool | None,
    jobs: int | None,
    min_severity: str,
    quiet: bool,
    no_cache: bool,
) -> None:
    """Render every cluster and run every check: schemas, Flux graph, rules, generated files, capacity."""
    config = open_check_config(repo, schema_locations, kubernetes_version, strict, jobs, no_cache)
    try:
        result = run_check(config.repo, config, list(clusters) or None)
    except InputError as exc:
        result = input_error_result(config, exc)
    if not quiet:
        click.echo(f"kustomize: {result.kustomize}", err=True)
        click.echo(f"promtool: {result.promtool or 'none found (PrometheusRules not checked by promtool)'}", err=True)
        click.echo(f"helm: {helm_line(result)}", err=True)
    finish(result, fmt, min_severity, quiet)


def helm_line(result: CheckResult) -> str:
    """Which helm rendered the HelmReleases, and how many it could not: a release whose chart is not available
    offline is an info, so without this line `0 errors` hid that none of them was checked."""
    from ..helm import CHART_UNAVAILABLE, find_helm

    try:
        found = find_helm()
    except ToolError as exc:
        return str(exc)
    missing = {f.object for f in result.findings if f.rule == CHART_UNAVAILABLE and f.object is not None}
    line = found.describe() if found else "none found (HelmReleases not rendered)"
    if missing:
        line += (f"; {len(missing)} HelmRelease(s) not rendered, their chart is not available offline "
                 "(`mlplatform charts pull` fetches them; `--min-severity info` lists them)")
    return line
