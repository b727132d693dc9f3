"""Write a file so that no reader ever sees it half-written: a temporary file beside it, then a rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import ToolError


def refuse_links(root: Path, path: Path) -> None:
    """A ToolError when `path` or a directory between `root` and it is a symlink (or `path` is outside
    `root`): a pull request could point an output folder anywhere, and mkdir/rename would follow it."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        raise ToolError("refusing to write outside the repository", str(path)) from None
    current = root
    for part in relative.parts:
        current = current / part
        if current.is_symlink():
            raise ToolError("refusing to write through a symlink (docs/security.md)",
                            current.relative_to(root).as_posix())


def write_text_atomically(path: Path, text: str, mode: int | None = None, root: Path | None = None) -> None:
    """Replace `path` with `text` (written as is, UTF-8). `mode` None keeps an existing file's permissions
    (0644 for a new file); the parent directory is created when missing. With `root`, nothing is written
    through a symlink below it (refuse_links)."""
    if root is not None:
        refuse_links(root, path)
    if mode is None:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
