"""SIGTERM and SIGINT end the command through `finally`, so what it created is removed.

Python's default for SIGTERM is to die at once: no `finally` runs, and `plan --base` left its temporary
checkout and a registered git worktree behind (issue 16). Inside `cleanup_on_signal()` both signals raise
`Interrupted` (a KeyboardInterrupt, which the CLI guard turns into exit 2 and one line); while the cleanup
itself runs, a second signal is remembered instead of cutting the cleanup short.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import FrameType

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM or SIGINT)."""


@contextmanager
def cleanup_on_signal() -> Iterator[Callable[[], AbstractContextManager[None]]]:
    """Within the block a signal raises Interrupted. The value given is `shielded`, a context manager for
    the cleanup: inside it signals are only remembered, and one that arrived is raised when it ends."""
    if threading.current_thread() is not threading.main_thread():
        # Handlers can only be installed by the main thread; a worker keeps the caller's behaviour.
        yield _no_shield
        return
    pending: list[int] = []
    shielding = [False]

    def handler(signum: int, _frame: FrameType | None) -> None:
        if shielding[0]:
            pending.append(signum)
            return
        raise Interrupted(signal.Signals(signum).name)

    @contextmanager
    def shielded() -> Iterator[None]:
        shielding[0] = True
        try:
            yield
        finally:
            shielding[0] = False
        if pending:
            raise Interrupted(signal.Signals(pending[0]).name)

    previous = {signum: signal.signal(signum, handler) for signum in _SIGNALS}
    try:
        yield shielded
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextmanager
def _no_shield() -> Iterator[None]:
    yield

