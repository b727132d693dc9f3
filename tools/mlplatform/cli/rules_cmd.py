"""`mlplatform rules`: the policy rule catalog with severity, fixability and rationale."""

from __future__ import annotations

import json
import textwrap

import click

from ..rules import RULES
from .common import format_option, guarded, resolve_format


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


@click.command(name="rules")
@format_option("text", "json", "markdown")
@guarded
def command(fmt: str | None) -> None:
    """List the policy rules with their rationale."""
    rows = _rows()
    fmt = resolve_format(fmt)
    if fmt == "json":
        click.echo(json.dumps({"rules": rows}, indent=2))
    elif fmt == "markdown":
        click.echo(_markdown(rows))
    else:
        click.echo(_text(rows))
