"""Safe pieces of Mermaid text: identifiers and quoted labels that no object name can break.

Mermaid reads `"` as the end of a label, `#...;` as an entity, `<...>` as HTML and a leading backtick as a
Markdown string; names come from the repository, so every label goes through `label()`. Entity codes are
Mermaid's own (`#quot;`, `#35;`; mermaid docs, "Entity codes to escape characters").
"""

from __future__ import annotations

import re

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")
_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "`": "#96;"}


def label(text: str) -> str:
    """`text` as the inside of a double-quoted Mermaid label (newlines become line breaks)."""
    escaped = "".join(_ENTITIES.get(ch, ch) for ch in text)
    return "<br/>".join(part for part in escaped.replace("\r", "").split("\n"))


def quoted(text: str) -> str:
    return f'"{label(text)}"'


class Ids:
    """Mermaid identifiers for arbitrary keys: readable, unique, never a keyword (every id has a prefix)."""

    def __init__(self, prefix: str = "n") -> None:
        self.prefix = prefix
        self.by_key: dict[str, str] = {}
        self.used: set[str] = set()

    def __call__(self, key: str) -> str:
        found = self.by_key.get(key)
        if found:
            return found
        base = f"{self.prefix}_{_ID_UNSAFE.sub('_', key).strip('_')}"[:80]
        candidate, n = base, 1
        while candidate in self.used:
            n += 1
            candidate = f"{base}_{n}"
        self.used.add(candidate)
        self.by_key[key] = candidate
        return candidate


def fenced(text: str) -> str:
    """A Mermaid diagram as a fenced block that GitHub renders."""
    return "```mermaid\n" + text.rstrip("\n") + "\n```\n"
