"""Errors that end a command with exit code 2 and one clear line (never a traceback)."""

from __future__ import annotations


class ToolError(Exception):
    """The tool could not do its job (bad arguments, no repository, kustomize missing)."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None):
        self.message = message
        self.file = file
        self.line = line
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        super().__init__(f"{where}{message}")


class InputError(ToolError):
    """A file the tool reads is unusable (malformed, too large, outside the repository)."""


def unknown_clusters(unknown: list[str], available: list[str]) -> ToolError:
    """The one wording every command uses when --cluster names no cluster of the repository (exit 2)."""
    return ToolError(f"unknown cluster(s): {', '.join(unknown)} (available: {', '.join(available) or 'none'})")
