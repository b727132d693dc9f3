""""Did you mean ...?" for names that must match something: a typo names its closest match."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# difflib's ratio: 0.6 is its own default; names here are short, so one or two wrong letters stay above it.
CUTOFF = 0.6


def closest(word: str, candidates: Iterable[str], cutoff: float = CUTOFF) -> str | None:
    """The candidate most like `word`, or None when none is close (or `word` is itself a candidate)."""
    names = sorted({str(c) for c in candidates})
    if word in names:
        return None
    matches = difflib.get_close_matches(word, names, n=1, cutoff=cutoff)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str], cutoff: float = CUTOFF) -> str:
    """`"; did you mean 'x'?"` for the closest candidate, else an empty string (append it to a message)."""
    match = closest(word, candidates, cutoff)
    return f"; did you mean {match!r}?" if match else ""
