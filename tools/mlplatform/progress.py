"""Progress lines on stderr for long runs (TTY-aware, respects NO_COLOR).

STUB owned by issue 8 (CI/scale helper): replace the body, keep the API.
"""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator


@contextmanager
def progress(label: str, total: int | None = None) -> Iterator["Progress"]:
    yield Progress()


class Progress:
    def advance(self, step: int = 1, note: str = "") -> None:
        """Report that `step` more units are done."""
