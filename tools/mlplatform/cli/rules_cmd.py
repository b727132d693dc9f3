"""`mlplatform rules`: the policy rule catalog with rationale, or where each pod template can be scheduled."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import click

from ..errors import ToolError
from ..rules import RULES
from .common import cluster_option, exit_codes, format_option, guarded, open_config, repo_option, resolve_format


def _rows() -> list[dict]:
    return [
        {
            "id": r.ID,
            "title": r.TITLE,
            "severity": r.SEVERITY.value,
            "fixable": bool(r.FIXABLE),
            "rationale": r.RATIONALE,
            "exemption": f"mlplatform.example.com/exempt-{r.ID}",
        }
        for r in RULES
    ]


def _text(rows: list[dict]) -> str:
    out = []
    for row in rows:
        flags = row["severity"] + (", fixable" if row["fixable"] else "")
        out.append(f"{row['id']} ({flags}): {row['title']}")
        out.extend(
            textwrap.wrap(
                row["rationale"],
                width=100,
                initial_indent="    ",
                subsequent_indent="    ",
                break_on_hyphens=False,
            )
        )
        out.append("")
    out.append('Exempt one object: annotation mlplatform.example.com/exempt-<rule-id>: "<reason>".')
    return "\n".join(out)


def _markdown(rows: list[dict]) -> str:
    out = ["| Rule | Severity | Fix | Title | Rationale |", "|---|---|---|---|---|"]
    for row in rows:
        rationale = row["rationale"].replace("|", "\\|")
        out.append(
            f"| `{row['id']}` | {row['severity']} | {'yes' if row['fixable'] else 'no'} | "
            f"{row['title']} | {rationale} |"
        )
    out += ["", 'Exempt one object: annotation `mlplatform.example.com/exempt-<rule-id>: "<reason>"`.']
    return "\n".join(out)


def _placement_text(rows: list[dict]) -> str:
    out = []
    for row in rows:
        obj = row["object"]
        name = f"{obj['kind']} {obj['namespace'] + '/' if obj['namespace'] else ''}{obj['name']}"
        part = f" [{row['template']}]" if row["template"] else ""
        kind = f" ({row['workload_type']})" if row["workload_type"] else ""
        out.append(
            f"{row['cluster']}: {name}{part}{kind} -> {', '.join(row['fits']) or 'NO POOL'}"
            f"  ({row['file']}:{row['line']})"
        )
        for pool, why in row["not"].items():
            out.append(f"    not {pool}: {why}")
    return "\n".join(out)


def _known_clusters(available: list[str], wanted: tuple[str, ...]) -> list[str] | None:
    """None for all; else the named clusters, each of which must exist."""
    if not wanted:
        return None
    unknown = [c for c in wanted if c not in available]
    if unknown:
        raise ToolError(f"unknown cluster(s): {', '.join(unknown)} (available: {', '.join(available) or 'none'})")
    return list(dict.fromkeys(wanted))


@click.command(name="rules", epilog=exit_codes(ok="0 the catalog (or the placements) printed",
                                              findings="1 not used"))
@repo_option
@cluster_option
@click.option(
    "--placement",
    is_flag=True,
    help="Instead of the catalog: render the clusters and show the pools each pod template can use.",
)
@format_option("text", "json", "markdown")
@guarded
def command(repo: Path, clusters: tuple[str, ...], placement: bool, fmt: str | None) -> None:
    """List the policy rules with their rationale (or, with --placement, where each workload can run)."""
    fmt = resolve_format(fmt)
    # The catalog itself does not depend on the repository, but a wrong --repo or --cluster is a usage error
    # (exit 2, one line) for every command, not something to ignore silently.
    config = open_config(repo)
    wanted = _known_clusters(config.clusters(), clusters)
    if placement:
        from ..rules._clusters import cluster_contexts
        from ..rules._placements import placement_rows

        rows = [row for ctx in cluster_contexts(config.repo, config, wanted) for row in placement_rows(ctx)]
        click.echo(json.dumps({"placements": rows}, indent=2) if fmt == "json" else _placement_text(rows))
        return
    rows = _rows()
    if fmt == "json":
        click.echo(json.dumps({"rules": rows}, indent=2))
    elif fmt == "markdown":
        click.echo(_markdown(rows))
    else:
        click.echo(_text(rows))
