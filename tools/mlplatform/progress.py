"""Progress lines on stderr for long runs (TTY-aware, respects NO_COLOR).

A run shows nothing for its first `delay` seconds: short runs stay quiet, and only a person watching a
terminal sees a progress line. When stderr is not a terminal (pipes, CI logs, tests) nothing is written
at all, so machine-readable output on stdout and one-line errors on stderr stay exactly as they are.
Colour follows https://no-color.org: any non-empty NO_COLOR turns it off.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

DEFAULT_DELAY_SECONDS = 2.0
REDRAW_INTERVAL_SECONDS = 0.1  # redrawing more often only costs time; the eye cannot follow it
_BOLD_CYAN, _RESET = "\x1b[1;36m", "\x1b[0m"
_CLEAR_LINE = "\x1b[2K"  # a cursor control, not a colour: fine under NO_COLOR on a real terminal


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def enabled_for(stream: TextIO, env: Mapping[str, str]) -> bool:
    """Progress is drawn only for a person: a terminal that can move the cursor, outside CI."""
    if env.get("CI") or env.get("MLPLATFORM_NO_PROGRESS") or env.get("TERM") == "dumb":
        return False
    return _is_tty(stream)


def colour_for(stream: TextIO, env: Mapping[str, str]) -> bool:
    return _is_tty(stream) and not env.get("NO_COLOR")


@dataclass
class Progress:
    """Counts units of work and redraws one status line; safe to advance from worker threads."""

    label: str
    total: int | None = None
    stream: TextIO | None = None
    active: bool = False
    colour: bool = False
    delay: float = DEFAULT_DELAY_SECONDS
    clock: Callable[[], float] = time.monotonic
    done: int = 0
    note: str = ""
    started: float = 0.0
    shown: bool = False
    _last_draw: float = field(default=-1e18, repr=False)
    _width: int = field(default=0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def advance(self, step: int = 1, note: str = "") -> None:
        """Report that `step` more units are done (`note` names the current item, e.g. a cluster)."""
        with self._lock:
            self.done += step
            if note:
                self.note = note
            if not self.active:
                return
            now = self.clock()
            if now - self.started < self.delay or now - self._last_draw < REDRAW_INTERVAL_SECONDS:
                return
            self._last_draw = now
            self._draw(self._status(now))

    def elapsed(self) -> float:
        return self.clock() - self.started

    def _status(self, now: float) -> str:
        label = f"{_BOLD_CYAN}{self.label}{_RESET}" if self.colour else self.label
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        percent = f" ({100 * self.done // self.total}%)" if self.total else ""
        note = f" {self.note}" if self.note else ""
        return f"{label} {count}{percent} {now - self.started:.1f}s{note}"

    def _draw(self, text: str) -> None:
        assert self.stream is not None
        if self.colour:
            self.stream.write(f"\r{_CLEAR_LINE}{text}")
        else:  # no escape sequences at all: pad with spaces over the previous, longer line
            self.stream.write("\r" + text.ljust(self._width))
        self._width = max(self._width, len(text))
        self.stream.flush()
        self.shown = True

    def finish(self, ok: bool = True) -> None:
        """End the line with a timing summary, but only if a progress line was drawn."""
        with self._lock:
            if not (self.active and self.shown):
                return
            self._draw(f"{self._status(self.clock())} {'done' if ok else 'stopped'}")
            assert self.stream is not None
            self.stream.write("\n")
            self.stream.flush()


@contextmanager
def progress(label: str, total: int | None = None, *, stream: TextIO | None = None,
             env: Mapping[str, str] | None = None, delay: float = DEFAULT_DELAY_SECONDS,
             clock: Callable[[], float] = time.monotonic) -> Iterator[Progress]:
    """A progress counter for a block of work; draws on stderr only when a person is watching."""
    out = stream if stream is not None else sys.stderr
    environ = os.environ if env is None else env
    tracker = Progress(label=label, total=total, stream=out, active=enabled_for(out, environ),
                       colour=colour_for(out, environ), delay=delay, clock=clock)
    try:
        yield tracker
    except BaseException:
        tracker.finish(ok=False)
        raise
    tracker.finish()
