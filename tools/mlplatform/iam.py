"""IAM policy documents as Terraform writes them, read offline for the cross-layer rules.

A resource policy in Terraform is usually `policy = data.aws_iam_policy_document.<name>.json`; sometimes a
literal JSON string. `policy_of` follows either to a list of `Statement`s with plain values (python-hcl2's
quotes removed). Anything else (jsonencode of an expression, a variable, a file()) cannot be read without
evaluating Terraform, and comes back as None: a rule then stays silent rather than guess.

Values that are Terraform expressions (`${var.x}`, `${aws_iam_role.y.arn}`) stay as their text: a rule can
tell a literal "*" from an expression, not what the expression evaluates to.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from .terraform import TerraformConfig, TfBlock, unquote

ANONYMOUS = "*"
# `${data.aws_iam_policy_document.name.json}`: the whole attribute is one reference.
_DOCUMENT_REF = re.compile(r"^\$\{data\.aws_iam_policy_document\.([A-Za-z0-9_-]+)\.json\}$")


@dataclass(frozen=True)
class Condition:
    test: str
    variable: str
    values: tuple[str, ...]


@dataclass
class Statement:
    effect: str  # "Allow" or "Deny"
    actions: list[str] = field(default_factory=list)
    # (type, identifier): ("AWS", "*"), ("Service", "pods.eks.amazonaws.com"), ("*", "*")
    principals: list[tuple[str, str]] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    sid: str = ""

    def covers(self, action: str) -> bool:
        """Whether the statement's actions include `action` (IAM wildcards, case-insensitive)."""
        return any(fnmatchcase(action.lower(), pattern.lower()) for pattern in self.actions)

    @property
    def anonymous(self) -> bool:
        """Whether the statement applies to every principal, anonymous ones included."""
        return any(identifier == ANONYMOUS for _, identifier in self.principals)

    def condition(self, variable: str) -> Condition | None:
        for condition in self.conditions:
            if condition.variable.lower() == variable.lower():
                return condition
        return None


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(unquote(item)) for item in items if item is not None]


def _from_document_block(body: dict[str, Any]) -> list[Statement]:
    statements = []
    for raw in body.get("statement") or []:
        if not isinstance(raw, dict):
            continue
        principals = [
            (str(unquote(p.get("type"))), identifier)
            for p in raw.get("principals") or []
            if isinstance(p, dict)
            for identifier in _strings(p.get("identifiers"))
        ]
        conditions = [
            Condition(str(unquote(c.get("test"))), str(unquote(c.get("variable"))), tuple(_strings(c.get("values"))))
            for c in raw.get("condition") or []
            if isinstance(c, dict)
        ]
        statements.append(
            Statement(
                effect=str(unquote(raw.get("effect")) or "Allow"),
                actions=_strings(raw.get("actions") or []),
                principals=principals,
                conditions=conditions,
                sid=str(unquote(raw.get("sid")) or ""),
            )
        )
    return statements


def _from_json(text: str) -> list[Statement] | None:
    try:
        document = json.loads(text)
    except ValueError:
        return None
    raw_statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list):
        return None
    statements = []
    for raw in raw_statements:
        if not isinstance(raw, dict):
            continue
        principal = raw.get("Principal")
        if principal == ANONYMOUS:
            principals = [(ANONYMOUS, ANONYMOUS)]
        elif isinstance(principal, dict):
            principals = [(str(kind), ident) for kind, ids in principal.items() for ident in _strings(ids)]
        else:
            principals = []
        raw_conditions = raw.get("Condition")
        conditions = [
            Condition(str(test), str(variable), tuple(_strings(values)))
            for test, block in (raw_conditions.items() if isinstance(raw_conditions, dict) else [])
            if isinstance(block, dict)
            for variable, values in block.items()
        ]
        statements.append(
            Statement(
                effect=str(raw.get("Effect") or "Allow"),
                actions=_strings(raw.get("Action") or []),
                principals=principals,
                conditions=conditions,
                sid=str(raw.get("Sid") or ""),
            )
        )
    return statements


def policy_of(tf: TerraformConfig, block: TfBlock, attribute: str = "policy") -> list[Statement] | None:
    """The statements of the policy a resource sets in `attribute`, or None when it cannot be read offline.

    A data source is looked up in the resource's own directory: Terraform names are per module.
    """
    value = block.body.get(attribute)
    if not isinstance(value, str):
        return None
    match = _DOCUMENT_REF.match(value)
    if match:
        directory = block.file.rsplit("/", 1)[0]
        for data in tf.blocks("data", "aws_iam_policy_document"):
            if data.name == match.group(1) and data.file.rsplit("/", 1)[0] == directory:
                return _from_document_block(data.body)
        return None
    text = _literal(value)
    if text is None or "${" in text:
        return None  # jsonencode(...), a variable, interpolation: needs Terraform to evaluate
    return _from_json(text)


_HEREDOC = re.compile(r"^<<-?([A-Za-z_][A-Za-z0-9_]*)\n(?P<body>.*)\n\s*\1$", re.DOTALL)


def _literal(value: str) -> str | None:
    """The text of a literal HCL string as python-hcl2 gives it (quoted, or a heredoc), else None."""
    if not (len(value) >= 2 and value[0] == value[-1] == '"'):
        return None
    inner = value[1:-1]
    heredoc = _HEREDOC.match(inner)
    if heredoc:
        return heredoc.group("body")
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), inner)
