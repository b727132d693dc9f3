"""A command runs with the cyclic collector's full passes made rarer (cli/__init__.py says why)."""

from __future__ import annotations

import subprocess
import sys

from mlplatform.cli import FULL_COLLECTION_AFTER


def test_a_command_runs_with_rarer_full_collections() -> None:
    code = (
        "import gc, sys\n"
        "from mlplatform.cli import main\n"
        "try:\n    main(['rules', '--format', 'json'])\nexcept SystemExit:\n    pass\n"
        "print(gc.get_threshold(), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    plain = subprocess.run([sys.executable, "-c", "import gc; print(gc.get_threshold())"], capture_output=True,
                           text=True, check=True)
    young, middle, full = eval(proc.stderr.strip().splitlines()[-1])  # noqa: S307 - our own tuple's repr
    default_young, default_middle, default_full = eval(plain.stdout)  # noqa: S307 - the same
    assert full == FULL_COLLECTION_AFTER > default_full
    assert (young, middle) == (default_young, default_middle)  # the young generations as Python sets them
